"""Quality gates (STUB until the gates issue lands)."""
