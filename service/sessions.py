"""The database as the pages and the command line see it: one read session per request or
command (routes hand it to the service's read functions), and the errors that mean the
database is away or too busy. Every write is a service function's own transaction."""

from __future__ import annotations

from models.db import DATABASE_DOWN as DATABASE_DOWN
from models.db import read_session as read_session
