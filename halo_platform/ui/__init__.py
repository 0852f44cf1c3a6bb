"""The Control Center (`/ui`): server-rendered pages for operations people (access.md's pages
table). Each page module calls the same functions as the API and the CLI; `app.py` holds what
the pages share (templates, the signed-in page guard by role, rendering, refusals)."""
