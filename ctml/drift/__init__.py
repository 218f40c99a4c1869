"""Data drift detection (STUB until the drift issue lands)."""
