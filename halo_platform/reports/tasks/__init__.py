"""One module per report task; each defines `TASK = Task(...)` and is discovered automatically."""
