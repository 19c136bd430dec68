"""The customer pages: dashboard, card saving (Payment Element or Customer Portal), 3-D Secure
completion, the original's three pages, the PWA and the offline API docs. Plain HTML, CSS and
ES modules in ``pages/`` and ``static/``, no build step; ``pages.install`` adds them to the app.

May import settings and Starlette/FastAPI; never runtime or cli.
"""
