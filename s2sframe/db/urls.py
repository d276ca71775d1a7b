"""Database URLs: normalisation, password masking, engines and connectorx URLs."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from ..exceptions import DatabaseError


def parse_url(dburl: str | URL) -> URL:
    """Parse ``dburl`` into a SQLAlchemy URL, resolving relative SQLite paths.

    ``sqlite:///relative/path`` is resolved against the current directory;
    ``sqlite:////abs/path`` is kept; a bare existing file path is accepted as SQLite.
    A password given in the query (``?password=...``) becomes the password of the
    URL, so that it is masked, and passed to every driver, like one given as
    ``user:password@``.
    """
    if isinstance(dburl, URL):
        url = dburl
    else:
        text = str(dburl)
        if "://" not in text:
            if os.path.isfile(text):
                text = "sqlite:///" + os.path.abspath(text)
            else:
                raise DatabaseError(
                    f"Not a database URL nor an existing file: {mask_text(text)!r}"
                )
        try:
            url = make_url(text)
        except Exception as exc:  # noqa: BLE001 - sqlalchemy raises ArgumentError
            raise DatabaseError(
                f"Invalid database URL {mask_url(text)!r}: {mask_text(str(exc))}"
            ) from None
    if "password" in url.query:  # as libpq and SQLAlchemy's drivers: the query one wins
        password = url.query["password"]
        if not isinstance(password, str):
            password = password[-1]
        url = url.difference_update_query(["password"]).set(password=password)
    backend = url.get_backend_name()
    if backend == "sqlite":
        db = url.database or ""
        if db in ("", ":memory:"):
            raise DatabaseError("In-memory SQLite databases cannot be scanned: give a file path")
        if not db.startswith("file:"):
            url = url.set(database=os.path.abspath(db))
    elif backend == "postgres":  # accepted by libpq; SQLAlchemy calls it postgresql
        url = url.set(drivername="postgresql" + url.drivername[len("postgres"):])
    elif backend != "postgresql":
        raise DatabaseError(
            f"Unsupported database {mask_url(url)!r}: use sqlite:/// or postgresql:// URLs"
        )
    return url


def mask_url(dburl: str | URL) -> str:
    """Return ``dburl`` as a string with its password replaced by ``***``.

    The one place where URLs are masked: messages, logs, ``repr`` and
    ``explain`` all show URLs through it.

    Passwords given as ``?password=...`` (or ``sslpassword``...) are masked too.

    Examples
    --------
    >>> mask_url("postgresql://me:secret@localhost/db")
    'postgresql://me:***@localhost/db'
    >>> mask_url("postgresql://me@localhost/db?password=secret")
    'postgresql://me@localhost/db?password=***'
    """
    if not isinstance(dburl, URL):
        try:
            dburl = make_url(str(dburl))
        except Exception:  # noqa: BLE001 - not parsable as a URL: mask what looks like one
            return mask_text(str(dburl))
    return _SECRET_PARAM.sub(r"\1***", dburl.render_as_string(hide_password=True))


#: ``[scheme://]user:password@`` in free text (URLs SQLAlchemy cannot parse, messages).
_USERINFO = re.compile(r"((?:\b[a-zA-Z][\w+.-]*://)?[^:/@\s]+:(?!//))(\S+)(@)")
#: ``?password=...`` (also ``&``, ``;`` or blank before it) in free text.
_SECRET_PARAM = re.compile(r"(?i)((?:^|[?&;\s])(?:\w*password|passwd|pwd)=)([^&;\s'\"]+)")


def mask_text(text: str, url: URL | None = None) -> str:
    """Mask the passwords of every URL in ``text`` (and the password of ``url`` anywhere).

    For messages that may quote URLs or driver errors, e.g. before printing them.
    Passwords as ``user:password@`` and as ``password=...`` parameters are masked.

    Examples
    --------
    >>> mask_text("cannot open postgresql://me:secret@host/db: timeout")
    'cannot open postgresql://me:***@host/db: timeout'
    >>> mask_text("cannot open postgresql://me@host/db?password=secret&sslmode=require")
    'cannot open postgresql://me@host/db?password=***&sslmode=require'
    """
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1***\3", text))


#: an EIDA token (a PGP signed message) anywhere in a text
_PGP = re.compile(r"-----BEGIN PGP SIGNED MESSAGE-----.*?(?:-----END PGP SIGNATURE-----|\Z)",
                  re.S)
#: keys of a configuration whose values are secrets whatever they look like
_SECRET_KEY = re.compile(r"(?i)(password|passwd|pwd|token|secret|restricted_data)")
#: ``key: value`` / ``key=value`` in a line of text, the key naming a secret
_SECRET_VALUE = re.compile(r"(?i)(\b[\w.-]*(?:password|passwd|token|secret|restricted_data)"
                           r"[\w.-]*\s*[:=]\s*)\S.*$")


def mask_log(text: str) -> str:
    """A log (or any text) with every secret masked: URL passwords (``user:pass@``,
    ``password=``), EIDA tokens (PGP signed messages) and what follows ``key:`` or
    ``key=`` on a line when the key names a secret (``restricted_data``, ``*password*``,
    ``*token*``...).

    Examples
    --------
    >>> mask_log("INFO: connected to postgresql://bob:pw@db:5432/s2s")
    'INFO: connected to postgresql://bob:***@db:5432/s2s'
    >>> mask_log("restricted_data: [alice, S3cretPW]")
    'restricted_data: ***'
    """
    lines = [_SECRET_VALUE.sub(r"\1***", line) for line in _PGP.sub("***", text).split("\n")]
    return mask_text("\n".join(lines))


def mask_config(text: str) -> str:
    """A stored configuration (YAML) with every secret masked, whoever wrote it.

    stream2segment stores the download configuration as written: ``dburl`` with its
    password, ``restricted_data`` as ``[user, password]``, a token or a token file.
    A YAML mapping is masked key by key (the values of keys naming a secret become
    ``***``; every string as in :func:`mask_log`) and written back; other text is
    masked as a log.

    Examples
    --------
    >>> print(mask_config("dburl: postgresql://alice:S3cretPW@host/db\\n"
    ...                   "restricted_data: [alice, S3cretPW]\\nchannel: HH?"))
    dburl: postgresql://alice:***@host/db
    restricted_data: ['***', '***']
    channel: HH?
    """
    import yaml

    def mask(value: Any, secret: bool) -> Any:
        if isinstance(value, dict):
            return {k: mask(v, secret or bool(_SECRET_KEY.search(str(k))))
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [mask(v, secret) for v in value]
        if secret and value not in (None, "", False):
            return "***"
        return mask_log(value) if isinstance(value, str) else value

    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, dict):
        return mask_log(text)
    return yaml.safe_dump(mask(parsed, False), sort_keys=False, default_flow_style=None,
                          allow_unicode=True).rstrip("\n")


def mask_web_url(url: str) -> str:
    """``url`` (http, https...) with the password of its ``user:password@`` part masked;
    other text (a file path, a catalog name) unchanged.

    Examples
    --------
    >>> mask_web_url("http://me:secret@host:8080/fdsnws/dataselect/1/query")
    'http://me:***@host:8080/fdsnws/dataselect/1/query'
    >>> mask_web_url("http://host/fdsnws/event/1/query?contact=a@b.org")
    'http://host/fdsnws/event/1/query?contact=a@b.org'
    """
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{hostport}"))


def is_sqlite(url: URL) -> bool:
    """True if ``url`` points to a SQLite database."""
    return url.get_backend_name() == "sqlite"


def check_exists(url: URL, missing_ok: bool = False) -> None:
    """Raise :class:`DatabaseError` if a SQLite file does not exist (unless ``missing_ok``:
    a file to create) or is not a SQLite file."""
    if is_sqlite(url) and not (url.database or "").startswith("file:"):
        if missing_ok and not os.path.exists(url.database or ""):
            return
        if not os.path.isfile(url.database or ""):
            raise DatabaseError(
                f"Database file not found: {url.database} (from {mask_url(url)!r})"
            )
        check_sqlite_file(url.database or "")


_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_sqlite_file(path: str) -> None:
    """Raise :class:`DatabaseError` ("not a SQLite database: PATH") unless ``path`` is an
    empty file or starts with a SQLite header and is as long as the header says.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".sqlite") as f:
    ...     _ = f.write("just text"); f.flush()
    ...     check_sqlite_file(f.name)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    s2sframe.exceptions.DatabaseError: not a SQLite database: /...sqlite
    """
    size = os.path.getsize(path)
    if size == 0:  # SQLite's empty database
        return
    with open(path, "rb") as file:
        head = file.read(100)
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        raise DatabaseError(f"not a SQLite database: {path}")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    # the page count is valid when "version-valid-for" equals the change counter
    if head[92:96] == head[24:28] and size < pages * page_size:
        raise DatabaseError(
            f"not a SQLite database: {path} (truncated: {size} bytes of {pages * page_size})"
        )


def readonly_sqlite_url(url: URL) -> URL:
    """Return a URL opening the SQLite file of ``url`` read-only (URI mode)."""
    path = url.database or ""
    if path.startswith("file:"):
        return url
    return url.set(database=f"file:{quote(path)}?mode=ro", query={"uri": "true"})


def create_engine(url: URL, *, readonly: bool = False, **kwargs: Any) -> sa.engine.Engine:
    """Return a new SQLAlchemy engine on ``url`` (parsed by :func:`parse_url`).

    The one place where engines are made: SQLite connections enforce foreign
    keys (``PRAGMA foreign_keys=ON``, as stream2segment does) and open the file
    read-only with ``readonly``; PostgreSQL engines check pooled connections
    before use (a connection the server or a firewall dropped while idle is
    replaced, not used), and with ``readonly`` make every transaction read-only.
    Errors never show bound parameters (``hide_parameters``: a failed insert of
    waveforms would print megabytes of bytes). ``kwargs`` go to
    :func:`sqlalchemy.create_engine`.
    """
    kwargs.setdefault("hide_parameters", True)
    if not is_sqlite(url):
        if readonly:  # every transaction read-only: the server itself refuses writes
            args = dict(kwargs.pop("connect_args", {}))
            args["options"] = (args.get("options", "") + " -c default_transaction_read_only=on")
            kwargs["connect_args"] = args
        try:
            return sa.create_engine(url, **{"pool_pre_ping": True, **kwargs})
        except ImportError as exc:  # the driver is an optional dependency
            raise DatabaseError(_driver_hint(exc, url)) from None
    engine = sa.create_engine(readonly_sqlite_url(url) if readonly else url, **kwargs)
    sa.event.listen(engine, "connect", _foreign_keys_on)
    return engine


def sqlite_wal(engine: sa.engine.Engine) -> bool:
    """Put the SQLite database of ``engine`` in WAL mode; True if it is in WAL mode now.

    In WAL mode readers never block a writer nor wait for it (in the default rollback
    mode a reader holding the file blocks every commit). The mode is a property of the
    file (it stays); SQLite refuses it where the file does not allow it (e.g. a file
    system without shared memory): then False, and the database is as before.
    Any error (e.g. another connection holds the file) gives False too.
    """
    try:
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar()
    except sa.exc.DBAPIError:
        return False
    return str(mode).lower() == "wal"


def sqlite_rollback_journal(engine: sa.engine.Engine) -> bool:
    """Put the SQLite database of ``engine`` back in rollback-journal mode (``DELETE``,
    SQLite's and stream2segment's default); False if it could not (another program has
    the file open: it then stays in WAL mode, which every SQLite since 3.7 reads)."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=200")  # a reader on: give up soon
            mode = conn.exec_driver_sql("PRAGMA journal_mode=DELETE").scalar()
    except sa.exc.DBAPIError:
        return False
    return str(mode).lower() == "delete"


def _driver_hint(exc: ImportError, url: URL) -> str:
    name = (exc.name or str(exc)).split(".")[0]
    hint = 'pip install "s2sframe[postgres]"' if name == "psycopg" else f"pip install {name}"
    return (f"Cannot use {mask_url(url)}: its database driver {name!r} is not installed "
            f"(PostgreSQL support is optional): {hint}")


def _foreign_keys_on(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@lru_cache(maxsize=32)
def _engine(url_str: str, readonly: bool) -> sa.engine.Engine:
    return create_engine(make_url(url_str), readonly=readonly)


@lru_cache(maxsize=8)
def _worker_engine(url_str: str) -> sa.engine.Engine:
    url = make_url(url_str)
    if is_sqlite(url):  # one connection kept (more only while threads read at once)
        return create_engine(url, readonly=True, poolclass=sa.pool.QueuePool, pool_size=1)
    return create_engine(url, readonly=True, poolclass=sa.pool.NullPool,
                         connect_args={"application_name": WORKER_APPLICATION_NAME})


#: seconds a download's SQLite write waits for a lock before it fails (then it is
#: retried, see :func:`s2sframe.db.retry.transaction`)
SQLITE_BUSY_TIMEOUT = 3.0
#: ``application_name`` of a download's connections on PostgreSQL
DOWNLOAD_APPLICATION_NAME = "s2sframe download"


def download_engine(url: URL) -> sa.engine.Engine:
    """A new engine for a download run on ``url`` (the directory of a SQLite file made).

    SQLite: no pool (each write transaction opens its connection, so no connection
    holds the file between writes) and writes wait :data:`SQLITE_BUSY_TIMEOUT`
    seconds for another writer's lock; PostgreSQL: connections named
    :data:`DOWNLOAD_APPLICATION_NAME` (visible in ``pg_stat_activity``).
    """
    if is_sqlite(url):
        folder = os.path.dirname(url.database or "")
        if folder:
            os.makedirs(folder, exist_ok=True)
        return create_engine(url, poolclass=sa.pool.NullPool,
                             connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
    return create_engine(url, connect_args={"application_name": DOWNLOAD_APPLICATION_NAME})


#: ``application_name`` of worker connections on PostgreSQL (visible in pg_stat_activity).
WORKER_APPLICATION_NAME = "s2sframe worker"


def worker_engine(url: URL) -> sa.engine.Engine:
    """Read-only engine for worker processes.

    PostgreSQL: no pool, a connection exists only while a read runs: between reads a
    worker holds no connection, so many workers (e.g. on a dask cluster) share a
    server's ``max_connections`` and nothing stays "idle in transaction". Connect
    errors surface at the read, where :func:`s2sframe.db.retry.with_retries` handles
    the transient ones. SQLite: one connection is kept between reads (no server to
    share; outside a read it holds no lock), so SQLite's page cache of the table and
    index pages survives from one chunk to the next (a new connection per chunk cost
    ~4 us per segment more on 500-segment chunks).
    """
    return _worker_engine(url.render_as_string(hide_password=False))


def get_engine(dburl: str | URL, readonly: bool = False) -> sa.engine.Engine:
    """Return a (cached) SQLAlchemy engine for ``dburl``.

    Raises :class:`DatabaseError` (URL masked) if the database cannot be reached.
    """
    url = parse_url(dburl)
    check_exists(url)
    engine = _engine(url.render_as_string(hide_password=False), readonly)
    try:
        with engine.connect() as conn:
            if is_sqlite(url):  # opening a SQLite file reads nothing yet
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master")
    except Exception as exc:  # noqa: BLE001
        _engine.cache_clear()
        if is_sqlite(url) and isinstance(exc, sa.exc.DatabaseError):
            raise DatabaseError(
                f"not a SQLite database: {url.database}: {error_line(exc, url)}"
            ) from None
        raise DatabaseError(f"Cannot connect to {mask_url(url)}: {error_line(exc, url)}") from None
    return engine


def error_line(exc: BaseException, url: URL) -> str:
    """First line of a driver error, with the password of ``url`` masked.

    Examples
    --------
    >>> url = parse_url("postgresql://me:secret@host/db")
    >>> error_line(OSError("password secret refused for me\\nmore"), url)
    'password *** refused for me'
    """
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return mask_text(text[0] if text else type(exc).__name__, url)


def cx_url(url: URL) -> str:
    """Return the connection string connectorx expects for ``url``."""
    if is_sqlite(url):
        # connectorx opens SQLite read-write (and creates missing files) unless it is
        # given a URI: "file:<path>?mode=ro", percent-encoded once more for its URL parser.
        path = url.database or ""
        if not path.startswith("file:"):
            path = "file:" + quote(path) + "?mode=ro"
        return "sqlite://" + quote(path, safe="")
    plain = url.set(drivername="postgresql", query={})
    return plain.render_as_string(hide_password=False) + "?cxprotocol=binary"


# Databases scanned in this process, so that ``df.s2s`` can find the database a
# frame came from without storing the URL (and its password) in the frame. Kept in
# memory only, never written anywhere.
_SCANNED: dict[str, URL] = {}


def remember_url(url: URL) -> None:
    """Record ``url`` as scanned in this process (in memory only)."""
    _SCANNED[url.render_as_string(hide_password=True)] = url


def default_url(dburl: str | URL | None = None) -> URL:
    """Return ``dburl`` parsed, or the only database scanned in this process.

    Raises :class:`DatabaseError` if ``dburl`` is None and zero or several
    databases were scanned.
    """
    if dburl is not None:
        return parse_url(dburl)
    if len(_SCANNED) == 1:
        return next(iter(_SCANNED.values()))
    if not _SCANNED:
        raise DatabaseError(
            "No database known for this frame: pass dburl=... (no s2sframe.scan() in this process)"
        )
    raise DatabaseError(
        "Several databases were scanned in this process ("
        + ", ".join(sorted(_SCANNED))
        + "): pass dburl=... to say which one this frame comes from"
    )
