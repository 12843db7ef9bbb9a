"""Who is acting, as an authenticated identity (never a name someone typed): what provenance records."""

from __future__ import annotations


def local_identity() -> str:
    """The OS account this process runs as, "local:NAME". Read from the process's uid, not $USER, which anyone can
    set; a uid with no account (a bare container) is named by its number."""
    import os
    import pwd

    uid = os.getuid()
    try:
        return f"local:{pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"local:uid{uid}"
