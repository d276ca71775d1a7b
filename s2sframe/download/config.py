"""The download configuration: stream2segment's ``download.yaml`` keys, validated.

Every bad value raises :class:`ConfigError` naming the key and the reason; unknown keys
are rejected with the closest known names. Secrets (passwords, tokens) are masked by
:func:`masked_yaml`, which is what the ``downloads`` row stores.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import yaml

from ..exceptions import ConfigError, ConfigFileError  # ConfigError: also importable here
from ..yamlfile import read_yaml

EVENT_SERVICES = {
    "emsc": "http://www.seismicportal.eu/fdsnws/event/1/query",
    "isc": "http://www.isc.ac.uk/fdsnws/event/1/query",
    "iris": "http://service.iris.edu/fdsnws/event/1/query",
    "ncedc": "http://service.ncedc.org/fdsnws/event/1/query",
    "scedc": "http://service.scedc.caltech.edu/fdsnws/event/1/query",
    "usgs": "http://earthquake.usgs.gov/fdsnws/event/1/query",
}
IRIS_DATASELECT = "https://service.iris.edu/fdsnws/dataselect/1/query"
EIDA_ROUTING = "http://www.orfeus-eu.org/eidaws/routing/1/query"

#: event query keys (and their stream2segment aliases)
_EVENT_KEYS = {"minlatitude": ("minlat",), "maxlatitude": ("maxlat",),
               "minlongitude": ("minlon",), "maxlongitude": ("maxlon",),
               "mindepth": (), "maxdepth": (), "minmagnitude": ("minmag",),
               "maxmagnitude": ("maxmag",)}
_ALIASES = {"dataws": "data_url", "eventws": "events_url", "start": "starttime",
            "end": "endtime", "net": "network", "networks": "network", "sta": "station",
            "stations": "station", "loc": "location", "locations": "location",
            "cha": "channel", "channels": "channel", "eventws_params": "events_extra_params",
            "eventws_query_args": "events_extra_params"}
_RETRY = ("retry_seg_not_found", "retry_url_err", "retry_mseed_err", "retry_client_err",
          "retry_server_err", "retry_timespan_err")
_TOP = {"dburl", "starttime", "endtime", "events_url", "events_extra_params", "network",
        "station", "location", "channel", "min_sample_rate", "update_metadata", "inventory",
        "search_radius", "data_url", "time_window", "restricted_data", "advanced_settings",
        *_RETRY, *_EVENT_KEYS, "traveltimes_model"}
_ADVANCED = {"max_concurrent_downloads": None, "routing_service_url": EIDA_ROUTING,
             "e_timeout": 120.0, "s_timeout": 120.0, "i_timeout": 60.0, "w_timeout": 30.0,
             "download_blocksize": 1048576, "db_buf_size": 100,
             "traveltimes_model": "ak135_ttp+", "max_retries": 3, "backoff": 1.0,
             # s2sframe's own: the size cap of one response of each service, in MB (bytes
             # received and bytes after decompression), and the total time of one request
             "e_max_mb": 128, "s_max_mb": 256, "w_max_mb": 128, "i_max_mb": 64,
             "request_deadline": None}
#: service -> (timeout key, size cap key) in advanced_settings
SERVICE_KEYS = {"events": ("e_timeout", "e_max_mb"), "stations": ("s_timeout", "s_max_mb"),
                "waveforms": ("w_timeout", "w_max_mb"), "inventories": ("i_timeout", "i_max_mb")}
_SECRET_KEYS = ("restricted_data",)




@dataclass(frozen=True)
class AdvancedSettings:
    """The validated ``advanced_settings`` (each field named as its key).

    Examples
    --------
    >>> adv = load({"dburl": "sqlite://", "starttime": "2024-01-01", "endtime": "2024-01-02",
    ...             "events_url": "emsc", "data_url": "iris", "time_window": [-1, 2],
    ...             "search_radius": {"min": 0, "max": 5},
    ...             "advanced_settings": {"w_timeout": 10}}).advanced
    >>> adv.timeout("waveforms"), adv.max_bytes("inventories")
    (10.0, 64000000)
    """

    max_concurrent_downloads: int | None
    routing_service_url: str
    e_timeout: float
    s_timeout: float
    i_timeout: float
    w_timeout: float
    download_blocksize: int
    db_buf_size: int
    traveltimes_model: str
    max_retries: int
    backoff: float
    e_max_mb: float
    s_max_mb: float
    w_max_mb: float
    i_max_mb: float
    request_deadline: float | None

    def timeout(self, service: str) -> float:
        """Seconds to wait for ``service`` ('events', 'stations', 'waveforms', 'inventories')."""
        return float(getattr(self, SERVICE_KEYS[service][0]))

    def max_bytes(self, service: str) -> int:
        """The size cap of one response of ``service``, in bytes."""
        return int(getattr(self, SERVICE_KEYS[service][1]) * 1e6)


@dataclass(frozen=True)
class RetrySettings:
    """Which download codes of segments already in the database are asked again."""

    retry_seg_not_found: bool
    retry_url_err: bool
    retry_mseed_err: bool
    retry_client_err: bool
    retry_server_err: bool
    retry_timespan_err: bool


@dataclass(frozen=True)
class DownloadConfig:
    """The validated configuration (see ``docs/download.md`` for each key).

    Built once, by :func:`load`, after every key is checked; the download steps
    read it and never change it.
    """

    dburl: str
    starttime: datetime
    endtime: datetime
    events_url: str
    event_params: Mapping[str, Any]  # FDSN event query parameters, sent as given
    network: list[str]
    station: list[str]
    location: list[str]
    channel: list[str]
    min_sample_rate: float
    search_radius: Mapping[str, float]  # min/max, or minmag/maxmag/minmag_radius/maxmag_radius
    data_url: list[str]
    time_window: tuple[float, float]
    restricted_data: str | tuple[str, str] | None
    inventory: bool
    update_metadata: bool
    retry: RetrySettings
    advanced: AdvancedSettings
    raw: Mapping[str, Any] = field(repr=False)  # the keys as given (stored masked)
    base_dir: str = "."

    @property
    def traveltimes_model(self) -> str:
        return self.advanced.traveltimes_model

    @property
    def events_catalog(self) -> str:
        """The ``events_url`` as given ('emsc', a URL, a file...)."""
        return str(self.raw.get("events_url", ""))


def load(config: str | os.PathLike[str] | Mapping[str, Any], **overrides: Any) -> DownloadConfig:
    """Read (YAML file path or mapping), merge ``overrides`` and validate a configuration."""
    base_dir = "."
    if isinstance(config, str | os.PathLike):
        path = os.fspath(config)
        if not os.path.isfile(path):
            raise ConfigError("config", f"file not found: {path}")
        try:  # the project's one YAML loader: not UTF-8, alias bombs, bad dates refused
            raw = read_yaml(path) or {}
        except ConfigFileError as exc:
            raise ConfigError("config", str(exc)) from None
        base_dir = os.path.dirname(os.path.abspath(path))
    elif isinstance(config, Mapping):
        raw = dict(config)
    else:
        raise ConfigError("config", f"a YAML file path or a mapping expected, not {type(config).__name__}")
    if not isinstance(raw, dict):
        raise ConfigError("config", "the YAML must be a mapping of keys to values")
    raw = {_ALIASES.get(k, k): v for k, v in raw.items()}
    for key, value in overrides.items():
        if value is None:
            continue
        key = _ALIASES.get(key, key)
        if key == "advanced_settings" and isinstance(value, Mapping):
            raw["advanced_settings"] = {**(raw.get("advanced_settings") or {}), **value}
        else:
            for name, aliases in _EVENT_KEYS.items():  # an event filter given replaces the
                if key in (name, *aliases):            # file's, under any of its names
                    names = (name, *aliases)
                    for k in names:
                        raw.pop(k, None)
                    extra = raw.get("events_extra_params")
                    if isinstance(extra, Mapping):
                        raw["events_extra_params"] = {k: v for k, v in extra.items()
                                                      if k not in names}
            raw[key] = value
    return _validate(raw, base_dir)


def _unknown(key: str, known: set[str], where: str = "") -> ConfigError:
    close = difflib.get_close_matches(key, sorted(known), n=3)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return ConfigError(where + key, f"unknown key{hint}")


def _validate(raw: dict[str, Any], base_dir: str) -> DownloadConfig:
    for key in raw:
        if key not in _TOP:
            raise _unknown(key, _TOP | set(_ALIASES))
    for key in ("dburl", "starttime", "endtime", "events_url", "data_url", "search_radius",
                "time_window"):
        if raw.get(key) in (None, ""):
            raise ConfigError(key, "missing (required)")
    dburl = raw["dburl"]
    if not isinstance(dburl, str) or "://" not in dburl:
        raise ConfigError("dburl", "a database URL expected (sqlite:///path or postgresql://...)")
    if dburl.startswith("sqlite:///") and not dburl.startswith("sqlite:////"):
        rel = dburl[len("sqlite:///"):]
        if rel and not os.path.isabs(rel):
            dburl = "sqlite:///" + os.path.join(base_dir, rel)
    start, end = _date("starttime", raw["starttime"]), _date("endtime", raw["endtime"])
    if start >= end:
        raise ConfigError("endtime", f"must be after starttime ({start} >= {end})")
    events_url = _events_url(raw["events_url"], base_dir)
    params = _event_params(raw)
    adv: dict[str, Any] = dict(_ADVANCED)
    given = raw.get("advanced_settings") or {}
    if not isinstance(given, Mapping):
        raise ConfigError("advanced_settings", "a mapping expected")
    for key, value in given.items():
        if key == "max_thread_workers":
            key = "max_concurrent_downloads"
        if key not in _ADVANCED:
            raise _unknown(key, set(_ADVANCED), "advanced_settings.")
        adv[key] = value
    if "traveltimes_model" in raw:
        adv["traveltimes_model"] = raw["traveltimes_model"]
    _check_advanced(adv)
    retry: dict[str, bool] = {}
    for key in _RETRY:
        value = raw.get(key, key != "retry_mseed_err")
        if not isinstance(value, bool):
            raise ConfigError(key, f"true or false expected, found {value!r}")
        retry[key] = value
    for key in ("inventory", "update_metadata"):
        if not isinstance(raw.get(key, key == "inventory"), bool):
            raise ConfigError(key, f"true or false expected, found {raw[key]!r}")
    msr = number("min_sample_rate", raw.get("min_sample_rate", 0) or 0, 0, 1e6)
    return DownloadConfig(
        dburl=dburl, starttime=start, endtime=end, events_url=events_url, event_params=params,
        network=_nslc("network", raw.get("network")), station=_nslc("station", raw.get("station")),
        location=_nslc("location", raw.get("location")),
        channel=_nslc("channel", raw.get("channel")), min_sample_rate=float(msr),
        search_radius=_radius(raw["search_radius"]), data_url=_data_urls(raw["data_url"]),
        time_window=_window(raw["time_window"]),
        restricted_data=_restricted(raw.get("restricted_data"), raw["data_url"], base_dir),
        inventory=raw.get("inventory", True), update_metadata=raw.get("update_metadata", False),
        retry=RetrySettings(**retry), advanced=AdvancedSettings(**adv), raw=raw,
        base_dir=base_dir)


def _date(key: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, int) and not isinstance(value, bool):
        if value > 0:
            raise ConfigError(key, "an integer means days from today and must be <= 0")
        today = datetime.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        try:
            return today + timedelta(days=value)
        except OverflowError:
            raise ConfigError(key, f"{value} days from today is not a date") from None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip().rstrip("Z")).replace(tzinfo=None)
        except ValueError:
            pass
    raise ConfigError(key, f"an ISO date-time or a non-positive number of days expected, found {value!r}")


def _events_url(value: Any, base_dir: str) -> str:
    if not isinstance(value, str):
        raise ConfigError("events_url", f"a URL, a catalog name or a file path expected, found {value!r}")
    if value.lower() in EVENT_SERVICES:
        return EVENT_SERVICES[value.lower()]
    if value.startswith(("http://", "https://")):
        return value
    path = value if os.path.isabs(value) else os.path.join(base_dir, value)
    if os.path.isfile(path):
        return os.path.abspath(path)
    raise ConfigError("events_url", f"not a catalog name ({', '.join(EVENT_SERVICES)}), an "
                                    f"http(s) URL or an existing file: {value!r}")


def _event_params(raw: dict[str, Any]) -> dict[str, Any]:
    extra = raw.get("events_extra_params") or {}
    if not isinstance(extra, Mapping):
        raise ConfigError("events_extra_params", "a mapping of FDSN event parameters expected")
    out = {k: v for k, v in extra.items() if k != "format"}
    fmt = extra.get("format")
    if isinstance(fmt, str) and fmt.lower() in ("isf", "text"):  # others: text is asked
        out["format"] = fmt.lower()
    for key, aliases in _EVENT_KEYS.items():
        for name in (key, *aliases):
            for where, src in (("", raw), ("events_extra_params.", extra)):
                if name in src and src[name] is not None:
                    value = src[name]
                    lim = 90 if "lat" in key else 180 if "lon" in key else 7000 if "depth" in key else 15
                    number(where + name, value, -lim, lim)
                    out.pop(name, None)
                    out[key] = value
    return out


def _nslc(key: str, value: Any) -> list[str]:
    """stream2segment's network/station/location/channel lists: [] means all."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(key, f"a string or a list of strings expected, found {value!r}")
    out: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(key, f"strings expected, found {item!r}")
        for chunk in item.split(","):
            chunk = chunk.strip()
            if " " in chunk:
                raise ConfigError(key, f"invalid space in {chunk!r}")
            out.add("" if key == "location" and chunk == "--" else chunk)
    if "!*" in out:
        raise ConfigError(key, "'!*' would discard everything")
    if "*" in out:
        out = {s for s in out if s.startswith("!")}
    for s in out:
        if "!" + s in out:
            raise ConfigError(key, f"conflicting values {s!r} and '!{s}'")
    return sorted(out)


def _radius(value: Any) -> dict[str, float]:
    key = "search_radius"
    if not isinstance(value, Mapping):
        raise ConfigError(key, "a mapping expected (min/max or minmag/maxmag/minmag_radius/maxmag_radius)")
    magdep = ("minmag", "maxmag", "minmag_radius", "maxmag_radius")
    for k, v in value.items():
        if k not in (*magdep, "min", "max"):
            raise _unknown(k, {*magdep, "min", "max"}, key + ".")
        if v is not None:
            number(f"{key}.{k}", v, -15 if k in ("minmag", "maxmag") else 0,
                   15 if k in ("minmag", "maxmag") else 180)
    keys = {k for k, v in value.items() if v is not None}
    if keys == set(magdep):
        if value["minmag"] > value["maxmag"]:
            raise ConfigError(key, "minmag must not be greater than maxmag")
        if value["minmag_radius"] <= 0 or value["maxmag_radius"] <= 0:
            raise ConfigError(key, "minmag_radius and maxmag_radius must be > 0")
        return {k: float(value[k]) for k in magdep}
    if keys == {"min", "max"}:
        if value["min"] < 0 or value["max"] <= value["min"]:
            raise ConfigError(key, "0 <= min < max required")
        return {"min": float(value["min"]), "max": float(value["max"])}
    raise ConfigError(key, "give either min and max, or minmag, maxmag, minmag_radius and maxmag_radius")


def _data_urls(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ConfigError("data_url", "'eida', 'iris', or a list of fdsnws-dataselect URLs expected")
    out = []
    for url in items:
        if not isinstance(url, str):
            raise ConfigError("data_url", f"strings expected, found {url!r}")
        if url.lower() in ("eida", "iris"):
            out.append(url.lower())
        elif url.startswith(("http://", "https://")) and "/fdsnws/" in url:
            out.append(url.rstrip("/"))
        else:
            raise ConfigError("data_url", f"not 'eida', 'iris' nor an FDSN URL (…/fdsnws/dataselect/1/query): {url!r}")
    return out


def _window(value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConfigError("time_window", f"two numbers [minutes before, minutes after] expected, found {value!r}")
    for v in value:  # at most 10 days around the arrival
        number("time_window", v, -14400, 14400, what="minutes: a number")
    if value[0] >= value[1]:
        raise ConfigError("time_window", "the start must be before the end")
    return float(value[0]), float(value[1])


def _restricted(value: Any, data_url: Any, base_dir: str) -> str | tuple[str, str] | None:
    key = "restricted_data"
    if value in (None, "", b""):
        return None
    urls = [data_url] if isinstance(data_url, str) else list(data_url)
    if isinstance(value, list | tuple):
        if len(value) != 2 or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, "[username, password] (two strings) or a token file expected")
        if len(urls) != 1 or urls[0] == "eida":
            raise ConfigError(key, "username and password need a single non-EIDA data_url "
                                   "(EIDA uses a token file)")
        return (value[0], value[1])
    if not isinstance(value, str):
        raise ConfigError(key, "a token file path or [username, password] expected")
    path = value if os.path.isabs(value) else os.path.join(base_dir, value)
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf8", errors="replace") as fh:
                token = fh.read(1 << 20)
        except OSError as exc:
            raise ConfigError(key, f"cannot read the token file {path}: {exc.strerror}") from None
    else:
        token = value
    if "BEGIN PGP" not in token:
        raise ConfigError(key, "not an EIDA token (a PGP signed message) nor a token file")
    return token


def number(key: str, value: Any, low: float, high: float, *, integer: bool = False,
           above: bool = False, what: str = "a number") -> float:
    """``value`` if it is a finite number (an integer if ``integer``) in ``[low, high]``
    (``(low, high]`` if ``above``), else :class:`ConfigError` naming ``key``.

    Examples
    --------
    >>> number("w_timeout", 30, 0, 86400, above=True)
    30
    >>> number("w_timeout", float("inf"), 0, 86400, above=True)
    Traceback (most recent call last):
    s2sframe.exceptions.ConfigError: download configuration: 'w_timeout': a number > 0 and <= 86400 expected, found inf
    """
    ok = (not isinstance(value, bool) and isinstance(value, int if integer else int | float)
          and math.isfinite(value) and (value > low if above else value >= low)
          and value <= high)
    if not ok:
        kind = "an integer" if integer else what
        rng = f"> {low:g}" if above else f">= {low:g}"
        raise ConfigError(key, f"{kind} {rng} and <= {high:g} expected, found {value!r}")
    return value


def _check_advanced(adv: dict[str, Any]) -> None:
    p = "advanced_settings."
    if adv["max_concurrent_downloads"] is not None:
        number(p + "max_concurrent_downloads", adv["max_concurrent_downloads"], 1, 256,
               integer=True)
    for key in ("e_timeout", "s_timeout", "i_timeout", "w_timeout"):
        number(p + key, adv[key], 0, 86400, above=True, what="a number of seconds")
    number(p + "backoff", adv["backoff"], 0, 3600, above=True, what="a number of seconds")
    if adv["request_deadline"] is not None:
        number(p + "request_deadline", adv["request_deadline"], 0, 7 * 86400, above=True,
               what="a number of seconds")
    for _timeout, key in SERVICE_KEYS.values():
        number(p + key, adv[key], 0, 1 << 20, above=True, what="a size in MB")
    number(p + "db_buf_size", adv["db_buf_size"], 1, 1_000_000, integer=True)
    number(p + "max_retries", adv["max_retries"], 0, 100, integer=True)
    number(p + "download_blocksize", adv["download_blocksize"], -(1 << 30), 1 << 30,
           integer=True)
    if adv["download_blocksize"] <= 0:
        adv["download_blocksize"] = -1
    from .traveltimes import MODELS

    if adv["traveltimes_model"] not in MODELS:
        raise ConfigError(p + "traveltimes_model", f"one of {', '.join(MODELS)} expected, "
                                                   f"found {adv['traveltimes_model']!r}")
    if not isinstance(adv["routing_service_url"], str):
        raise ConfigError(p + "routing_service_url", "a URL expected")


def masked_yaml(cfg: DownloadConfig) -> str:
    """The configuration as YAML with secrets (token, password, URL password) masked."""
    return yaml.safe_dump(_masked(cfg.raw), sort_keys=False, default_flow_style=None)


def _masked(given: Mapping[str, Any]) -> dict[str, Any]:
    from ..db.urls import mask_url

    raw = dict(given)
    for key in _SECRET_KEYS:
        if raw.get(key):
            raw[key] = ["***", "***"] if isinstance(raw[key], list | tuple) else "***"
    if isinstance(raw.get("dburl"), str):
        raw["dburl"] = mask_url(raw["dburl"])
    for key in ("events_url", "data_url"):
        if key in raw:
            raw[key] = _masked_urls(raw[key])
    adv = raw.get("advanced_settings")
    if isinstance(adv, Mapping) and "routing_service_url" in adv:
        raw["advanced_settings"] = {**adv,
                                    "routing_service_url": _masked_urls(adv["routing_service_url"])}
    return raw


def _masked_urls(value: Any) -> Any:
    """URLs (a string or a list of them) with passwords (``user:pw@``) masked."""
    from ..db.urls import mask_web_url

    if isinstance(value, str):
        return mask_web_url(value)
    if isinstance(value, list | tuple):
        return [mask_web_url(v) if isinstance(v, str) else v for v in value]
    return value


def masked_text(text: str) -> str:
    """A stored configuration (``downloads.config``, written by s2sframe or stream2segment)
    with its secrets masked: URL passwords, and the token or password of
    ``restricted_data`` (then the YAML is written anew, comments dropped).

    Examples
    --------
    >>> print(masked_text("dburl: postgresql://me:secret@host/db\\nrestricted_data: [me, pw]\\n"))
    dburl: postgresql://me:***@host/db
    restricted_data: ['***', '***']
    <BLANKLINE>
    """
    from ..db.urls import mask_text

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raw = None
    if isinstance(raw, dict) and any(raw.get(k) for k in _SECRET_KEYS):
        return mask_text(yaml.safe_dump(_masked(raw), sort_keys=False, default_flow_style=None))
    return mask_text(text)
