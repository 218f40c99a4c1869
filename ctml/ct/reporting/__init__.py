"""What CT shows a person: `console` (progress lines, tables, JSON, the run summary), `overview`
(everything `ct.py report` shows, gathered as records) and `html` (that page, self-contained)."""
