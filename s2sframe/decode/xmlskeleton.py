"""Networks, stations and channels of a StationXML document as ObsPy reads them, faster.

:func:`read_skeleton` does what ObsPy's ``obspy.io.stationxml.core._read_stationxml``
does, function for function (``_read_network``, ``_read_station``, ``_read_channel``,
``_read_base_node``, ``_read_equipment``, ``_read_comment``, ``_read_floattype``...),
building the same ObsPy objects, but:

- each element's children are indexed once (tag -> elements) instead of one
  ``find`` per tag ObsPy looks for (~30 per channel, most absent);
- ObsPy's float types (``Latitude``, ``Distance``...), channels, equipments and
  comments are given the attributes their constructors and setters store, without
  running them (~5-10x faster; the values those check, out-of-bounds numbers,
  identifiers, source ids, negative comment ids, still go through them);
- dates of the plain forms FDSN web services write (``2006-12-16T00:00:00.000000Z``,
  ``...+00:00``) are parsed by a regular expression and integer arithmetic, ~15x
  faster than ``UTCDateTime(text)`` (~15-60 us), which parses any other; each text
  once per document (IRIS documents repeat every dated comment on each channel), each
  date a new object made as unpickling makes it;
- ``_read_extra`` (custom namespaces: a regular expression per element) runs only on
  elements with a namespaced attribute, in documents whose root declares no custom
  namespace (on every element as ObsPy in the others);
- responses are not read here: ``response`` builds each channel's from its
  ``<Response>`` element (:mod:`.lazyxml` gives a lazy one).

Rare parts (operators, persons, external references, data availability, sites) are
read by ObsPy's own functions. The result equals ObsPy's, attribute by attribute,
with the same warnings and errors (``tests/test_lazyxml.py``: ObsPy's and pyasdf's
test-data corpus, real GEOFON documents, variants for the corner cases).
"""

from __future__ import annotations

import datetime
import math
import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

from obspy import UTCDateTime
from obspy.core.inventory import (
    Azimuth,
    Channel,
    ClockDrift,
    Comment,
    Dip,
    Distance,
    Equipment,
    Inventory,
    Latitude,
    Longitude,
    Network,
    Station,
)
from obspy.core.inventory.util import FloatWithUncertaintiesAndUnit, SampleRate
from obspy.core.util.deprecation_helpers import ObsPyDeprecationWarning
from obspy.io.stationxml import core as _sx

__all__ = ["custom_namespaces", "read_skeleton"]

_NS = "{http://www.fdsn.org/xml/station/1}"
#: namespaces ObsPy does not read as custom ones (``_read_extra``)
_STANDARD = re.compile("(http|https)://www.(fdsn|w3).org/")

Element = Any  # an lxml element
Kids = dict[Any, list[Any]]
ResponseReader = Callable[[Element], Any]


def _ns(tag: str) -> str:
    return _NS + tag


(_SOURCE, _CREATED, _SENDER, _MODULE, _MODULE_URI, _NETWORK, _STATION, _CHANNEL,
 _DESCRIPTION, _IDENTIFIER, _COMMENT, _AVAILABILITY, _OPERATOR, _TOTAL_STATIONS,
 _SELECTED_STATIONS, _LONGITUDE, _LATITUDE, _ELEVATION, _DEPTH, _SITE, _WATER_LEVEL,
 _VAULT, _GEOLOGY, _EQUIPMENT, _CREATION, _TERMINATION, _SELECTED_CHANNELS,
 _TOTAL_CHANNELS, _EXTERNAL, _AZIMUTH, _DIP, _TYPE, _SAMPLE_RATE, _RATIO, _SAMPLES,
 _SECONDS, _CLOCK_DRIFT, _CALIBRATION_UNITS, _NAME, _SENSOR, _PRE_AMPLIFIER,
 _DATA_LOGGER, _RESPONSE, _MANUFACTURER, _VENDOR, _MODEL, _SERIAL, _INSTALLATION,
 _REMOVAL, _CALIBRATION_DATE) = (_ns(t) for t in (
    "Source", "Created", "Sender", "Module", "ModuleURI", "Network", "Station",
    "Channel", "Description", "Identifier", "Comment", "DataAvailability", "Operator",
    "TotalNumberStations", "SelectedNumberStations", "Longitude", "Latitude",
    "Elevation", "Depth", "Site", "WaterLevel", "Vault", "Geology", "Equipment",
    "CreationDate", "TerminationDate", "SelectedNumberChannels", "TotalNumberChannels",
    "ExternalReference", "Azimuth", "Dip", "Type", "SampleRate", "SampleRateRatio",
    "NumberSamples", "NumberSeconds", "ClockDrift", "CalibrationUnits", "Name",
    "Sensor", "PreAmplifier", "DataLogger", "Response", "Manufacturer", "Vendor",
    "Model", "SerialNumber", "InstallationDate", "RemovalDate", "CalibrationDate"))
_VALUE, _BEGIN, _END, _AUTHOR = (_ns(t) for t in ("Value", "BeginEffectiveTime",
                                                  "EndEffectiveTime", "Author"))

_NONE: list[Any] = [None]


# ----------------------------------------------------------------------- helpers
def _kids(element: Element) -> Kids:
    """The children of ``element`` by tag, in document order."""
    kids: Kids = {}
    for child in element:
        same = kids.get(child.tag)
        if same is None:
            kids[child.tag] = [child]
        else:
            same.append(child)
    return kids


#: the dates of FDSN web services: ``YYYY-MM-DDThh:mm:ss[.ffffff][Z|+00:00]``
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:Z|\+00:00)?",
                  re.ASCII)
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def _iso_ns(text: str) -> int | None:
    """``UTCDateTime(text).ns`` of a plain ISO 8601 UTC date (~15x faster than
    UTCDateTime's parser: a document's dates are ~half the time of its channels),
    None for any other text (left to UTCDateTime; tested equal on both)."""
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    hour_, minute_, second_ = int(hour), int(minute), int(second)
    if hour_ > 23 or minute_ > 59 or second_ > 59:
        return None
    days = _DAYS.get(text[:10])
    if days is None:
        try:
            days = datetime.date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            return None
        if len(_DAYS) >= 100_000:  # bounded: ~10 MB at most
            _DAYS.clear()
        _DAYS[text[:10]] = days
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    return ((days * 86400 + hour_ * 3600 + minute_ * 60 + second_) * 1_000_000 + micro) * 1000


#: days since 1970 of the ``YYYY-MM-DD`` texts met (a pure function: cached)
_DAYS: dict[str, int] = {}


def _date(text: Any) -> UTCDateTime:
    """``UTCDateTime(text)`` (raises as it does), a new object for each call.

    The nanoseconds of each text are kept for the rest of the document being read
    (``_STATE.dates``: IRIS documents repeat each dated comment on every channel).
    """
    if type(text) is str:
        dates = getattr(_STATE, "dates", None)
        ns = None if dates is None else dates.get(text)
        if ns is None:
            ns = _iso_ns(text)
            if ns is not None and dates is not None:
                dates[text] = ns
        if ns is not None:  # UTCDateTime(ns=ns) made as unpickling makes it (~2.5x faster)
            obj = UTCDateTime.__new__(UTCDateTime)
            obj.__setstate__((ns, UTCDateTime.DEFAULT_PRECISION))
            return obj
    return UTCDateTime(text)


def _convert(text: Any, convert: Any) -> Any:
    """ObsPy's ``_convert``: None if ``convert`` fails, ``''`` for an empty str."""
    if convert is str:
        return text or ""
    try:
        return convert(text)
    except Exception:  # noqa: BLE001 - as ObsPy
        return None


def _tag2obj(kids: Kids, tag: str, convert: Any) -> Any:
    """ObsPy's ``_tag2obj`` on indexed children."""
    element = kids.get(tag, _NONE)[0]
    if element is None:
        return None
    return _convert(element.text, convert)


def _attr2obj(element: Element, attr: str, convert: Any) -> Any:
    """ObsPy's ``_attr2obj``."""
    attribute = element.get(attr)
    if attribute is None:
        return None
    try:
        return convert(attribute)
    except Exception:  # noqa: BLE001 - as ObsPy
        return None


def _read_floattype(kids: Kids, tag: str, cls: type, unit: bool = False,
                    datum: bool = False) -> Any:
    """ObsPy's ``_read_floattype`` on indexed children."""
    elem = kids.get(tag, _NONE)[0]
    if elem is None:
        return None
    try:
        convert = float(elem.text)
    except Exception:  # noqa: BLE001 - as ObsPy, which warns and skips it
        return _sx._read_floattype(_Single(tag, elem), tag, cls, unit=unit, datum=datum)
    if math.isnan(convert):
        return _sx._read_floattype(_Single(tag, elem), tag, cls, unit=unit, datum=datum)
    items = elem.items()  # a list: no attribute proxy
    key = (cls, unit, datum, *items)
    template = _FLOATS.get(key)
    if template is None:
        attrib = dict(items)
        try:
            template = _float_attributes(cls, attrib, unit, datum)
        except Exception:  # noqa: BLE001 - bad uncertainties...: ObsPy's error
            return _new_float(cls, convert, attrib, unit, datum)
        if len(_FLOATS) >= _MAX_FLOATS:
            _FLOATS.clear()
        _FLOATS[key] = template
    if not cls._minimum <= convert <= cls._maximum:  # type: ignore[attr-defined]
        return _new_float(cls, convert, dict(items), unit, datum)  # raises as ObsPy
    # ObsPy's object without its constructor (~10x faster): a float of the class with
    # the attributes ObsPy's constructor and setters give it for these XML attributes
    obj: Any = float.__new__(cls, convert)
    obj.__dict__ = template.copy()
    return obj


#: the instance attributes (``__dict__``) of ObsPy's float types by (class, unit,
#: datum, XML attributes): what :func:`_new_float` gives them, whatever the value
_FLOATS: dict[tuple[Any, ...], dict[str, Any]] = {}
_MAX_FLOATS = 1000


def _new_float(cls: type, value: float, attrib: Any, unit: bool, datum: bool) -> Any:
    """A float type made as ObsPy's ``_read_floattype`` makes it."""
    obj = cls(value)
    if unit:
        obj.unit = attrib.get("unit")
    if datum:
        obj.datum = attrib.get("datum")
    lower = attrib.get("minusError")
    obj.lower_uncertainty = None if lower is None else float(lower)
    upper = attrib.get("plusError")
    obj.upper_uncertainty = None if upper is None else float(upper)
    obj.measurement_method = attrib.get("measurementMethod")
    return obj


def _float_attributes(cls: type, attrib: Any, unit: bool, datum: bool) -> dict[str, Any]:
    """The ``__dict__`` of :func:`_new_float`'s objects (immutable values only)."""
    attributes = dict(_new_float(cls, 0.0, attrib, unit, datum).__dict__)
    for value in attributes.values():  # str, float, None: shared by copies
        if value is not None and not isinstance(value, (str, float, int)):
            raise TypeError(f"unexpected attribute of {cls.__name__}: {value!r}")
    return attributes


class _Single:
    """A parent of one child, for ObsPy's functions that ``find`` it."""

    __slots__ = ("child", "tag")

    def __init__(self, tag: str, child: Element) -> None:
        self.tag, self.child = tag, child

    def find(self, tag: str) -> Element:
        return self.child if tag == self.tag else None


#: of the document being read in this thread: whether it declares custom namespaces
#: (``custom``), the nanoseconds of the date texts read so far (``dates``)
_STATE = threading.local()


def _extra(element: Element, obj: Any) -> None:
    """ObsPy's ``_read_extra`` where it can find something: anywhere in documents
    declaring custom namespaces, else on elements with a namespaced attribute."""
    if getattr(_STATE, "custom", False):
        _sx._read_extra(element, obj)
        return
    for key in element.keys():  # noqa: SIM118 - lxml: a list, no attribute proxy
        if "}" in key:
            _sx._read_extra(element, obj)
            return


def custom_namespaces(root: Element) -> bool:
    """Whether ``root`` declares a namespace whose elements ObsPy reads as ``extra``."""
    return any(not _STANDARD.match(ns) for ns in root.nsmap.values())


# ----------------------------------------------------------------------- readers
def read_skeleton(root: Element, response: ResponseReader) -> Inventory:
    """The Inventory of a parsed StationXML document, as ObsPy's ``_read_stationxml``.

    Parameters
    ----------
    root : lxml.etree._Element
        The document's root element; its document must declare no namespace below
        the root (custom ones are read into ``extra`` as ObsPy does, if declared there).
    response : callable
        ``response(element)``: the channel's Response of its ``<Response>`` element.

    Returns
    -------
    obspy.Inventory
        Equal to ObsPy's for the same document (``response`` aside).

    Examples
    --------
    >>> import io, obspy
    >>> from lxml import etree
    >>> from obspy.io.stationxml.core import _read_response
    >>> buf = io.BytesIO()
    >>> obspy.read_inventory().write(buf, format="STATIONXML")
    >>> root = etree.fromstring(buf.getvalue())
    >>> def response(element):
    ...     out = _read_response(element, lambda t: "{%s}%s" % (etree.QName(root).namespace, t))
    ...     out._attempt_to_fix_units()
    ...     return out
    >>> read_skeleton(root, response) == obspy.read_inventory(io.BytesIO(buf.getvalue()))
    True
    """
    kids = _kids(root)
    source = kids.get(_SOURCE, _NONE)[0].text  # AttributeError if absent, as ObsPy
    created = UTCDateTime(kids.get(_CREATED, _NONE)[0].text)
    sender = _tag2obj(kids, _SENDER, str)
    module = _tag2obj(kids, _MODULE, str)
    module_uri = _tag2obj(kids, _MODULE_URI, str)
    custom, dates = getattr(_STATE, "custom", False), getattr(_STATE, "dates", None)
    _STATE.custom, _STATE.dates = custom_namespaces(root), {}
    try:
        with warnings.catch_warnings():
            if root.attrib.get("schemaVersion") == "1.0":
                warnings.filterwarnings(
                    "ignore", "Setting Numerator/Denominator with a unit is deprecated.",
                    ObsPyDeprecationWarning)
            networks = [_read_network(e, response) for e in kids.get(_NETWORK, ())]
    finally:
        _STATE.custom, _STATE.dates = custom, dates
    inventory = Inventory(networks=networks, source=source, sender=sender, created=created,
                          module=module, module_uri=module_uri)
    _sx._read_extra(root, inventory)
    return inventory


def _read_base_node(element: Element, kids: Kids, obj: Any) -> None:
    get = element.get
    obj.start_date = _attr2obj(element, "startDate", _date)
    obj.end_date = _attr2obj(element, "endDate", _date)
    obj.restricted_status = get("restrictedStatus")
    obj.alternate_code = get("alternateCode")
    obj.historical_code = get("historicalCode")
    obj.source_id = get("sourceID")
    obj.description = _tag2obj(kids, _DESCRIPTION, str)
    identifiers = []
    for identifier in kids.get(_IDENTIFIER, ()):
        scheme = identifier.get("type")
        path = identifier.text
        identifiers.append(path if scheme is None else scheme + ":" + path)
    obj.identifiers = identifiers
    obj.comments = [_read_comment(c) for c in kids.get(_COMMENT, ())]
    availability = kids.get(_AVAILABILITY, _NONE)[0]
    if availability is not None:
        obj.data_availability = _sx._read_data_availability(availability, _ns)
    _extra(element, obj)


def _read_network(element: Element, response: ResponseReader) -> Network:
    kids = _kids(element)
    network = Network(element.get("code"))
    _read_base_node(element, kids, network)
    for operator in kids.get(_OPERATOR, ()):
        network.operators.append(_sx._read_operator(operator, _ns))
    network.total_number_of_stations = _tag2obj(kids, _TOTAL_STATIONS, int)
    network.selected_number_of_stations = _tag2obj(kids, _SELECTED_STATIONS, int)
    network.stations = [_read_station(e, response) for e in kids.get(_STATION, ())]
    return network


def _read_station(element: Element, response: ResponseReader) -> Station:
    kids = _kids(element)
    longitude = _read_floattype(kids, _LONGITUDE, Longitude, datum=True)
    latitude = _read_floattype(kids, _LATITUDE, Latitude, datum=True)
    elevation = _read_floattype(kids, _ELEVATION, Distance, unit=True)
    station = Station(code=element.get("code"), latitude=latitude, longitude=longitude,
                      elevation=elevation)
    station.site = _sx._read_site(kids.get(_SITE, _NONE)[0], _ns)
    _read_base_node(element, kids, station)
    station.water_level = _read_floattype(kids, _WATER_LEVEL, FloatWithUncertaintiesAndUnit,
                                          unit=True)
    station.vault = _tag2obj(kids, _VAULT, str)
    station.geology = _tag2obj(kids, _GEOLOGY, str)
    for equipment in kids.get(_EQUIPMENT, ()):
        station.equipments.append(_read_equipment(equipment))
    for operator in kids.get(_OPERATOR, ()):
        station.operators.append(_sx._read_operator(operator, _ns))
    station.creation_date = _tag2obj(kids, _CREATION, _date)
    station.termination_date = _tag2obj(kids, _TERMINATION, _date)
    station.selected_number_of_channels = _tag2obj(kids, _SELECTED_CHANNELS, int)
    station.total_number_of_channels = _tag2obj(kids, _TOTAL_CHANNELS, int)
    for ref in kids.get(_EXTERNAL, ()):
        station.external_references.append(_sx._read_external_reference(ref, _ns))
    channels = []
    for channel_element in kids.get(_CHANNEL, ()):
        if not channel_element.attrib:  # skip empty channels, as ObsPy
            continue
        channel = _read_channel(channel_element, response)
        if channel is None:
            msg = (f"Channel {channel_element.get('locationCode')}."
                   f"{channel_element.get('code')} of station {element.get('code')} "
                   "does not have a complete set of coordinates (latitude, longitude), "
                   "elevation and depth and thus it cannot be read. It will not be part "
                   "of the final inventory object.")
            warnings.warn(msg, UserWarning, stacklevel=2)
        else:
            channels.append(channel)
    station.channels = channels
    return station


def _read_channel(element: Element, response: ResponseReader) -> Channel | None:
    kids = _kids(element)
    longitude = _read_floattype(kids, _LONGITUDE, Longitude, datum=True)
    latitude = _read_floattype(kids, _LATITUDE, Latitude, datum=True)
    elevation = _read_floattype(kids, _ELEVATION, Distance, unit=True)
    depth = _read_floattype(kids, _DEPTH, Distance, unit=True)
    if longitude is None or latitude is None or elevation is None or depth is None:
        return None
    code, location_code = element.get("code"), element.get("locationCode")
    if code is None or location_code is None:  # ObsPy's constructor raises its error
        Channel(code=code, location_code=location_code, latitude=latitude,
                longitude=longitude, elevation=elevation, depth=depth)
    # what ObsPy's constructor and setters store, without them (~5x faster): a test
    # checks that the attributes are ObsPy's (tests/test_lazyxml.py)
    attributes: dict[str, Any] = {
        "_location_code": location_code.strip(),
        "_latitude": latitude, "_longitude": longitude, "_elevation": elevation,
        "_depth": depth,
        "_code": code.strip(),
    }
    _base_node_attributes(element, kids, attributes)
    attributes["_azimuth"] = _read_floattype(kids, _AZIMUTH, Azimuth)
    attributes["_dip"] = _read_floattype(kids, _DIP, Dip)
    attributes["_water_level"] = _read_floattype(kids, _WATER_LEVEL,
                                                 FloatWithUncertaintiesAndUnit, unit=True)
    attributes["types"] = [e.text for e in kids.get(_TYPE, ())]
    attributes["external_references"] = [_sx._read_external_reference(e, _ns)
                                         for e in kids.get(_EXTERNAL, ())]
    attributes["_sample_rate"] = _read_floattype(kids, _SAMPLE_RATE, SampleRate)
    samples = seconds = None
    ratio = kids.get(_RATIO, _NONE)[0]
    if ratio is not None:
        ratio_kids = _kids(ratio)
        samples = _tag2obj(ratio_kids, _SAMPLES, int)
        seconds = _tag2obj(ratio_kids, _SECONDS, int)
    attributes["sample_rate_ratio_number_samples"] = samples
    attributes["sample_rate_ratio_number_seconds"] = seconds
    attributes["_clock_drift_in_seconds_per_sample"] = _read_floattype(
        kids, _CLOCK_DRIFT, ClockDrift)
    name = description = None
    units = kids.get(_CALIBRATION_UNITS, _NONE)[0]
    if units is not None:
        units_kids = _kids(units)
        name = _tag2obj(units_kids, _NAME, str)
        description = _tag2obj(units_kids, _DESCRIPTION, str)
    attributes["calibration_units"] = name
    attributes["calibration_units_description"] = description
    for attribute, tag in (("sensor", _SENSOR), ("pre_amplifier", _PRE_AMPLIFIER),
                           ("data_logger", _DATA_LOGGER)):
        equipment = kids.get(tag, _NONE)[0]
        attributes[attribute] = None if equipment is None else _read_equipment(equipment)
    attributes["_equipments"] = [_read_equipment(e) for e in kids.get(_EQUIPMENT, ())]
    response_element = kids.get(_RESPONSE, _NONE)[0]
    attributes["response"] = None if response_element is None else response(response_element)
    channel = Channel.__new__(Channel)
    channel.__dict__ = attributes
    _base_node_setters(element, kids, channel)
    return channel


def _base_node_attributes(element: Element, kids: Kids, attributes: dict[str, Any]) -> None:
    """What ``_read_base_node`` stores but identifiers and source id (they warn:
    :func:`_base_node_setters`) and ``extra``, as ObsPy's setters store it."""
    get = element.get
    attributes["start_date"] = _attr2obj(element, "startDate", _date)
    attributes["end_date"] = _attr2obj(element, "endDate", _date)
    attributes["restricted_status"] = get("restrictedStatus")
    alternate, historical = get("alternateCode"), get("historicalCode")
    attributes["_alternate_code"] = alternate.strip() if alternate else None
    attributes["_historical_code"] = historical.strip() if historical else None
    attributes["description"] = _tag2obj(kids, _DESCRIPTION, str)
    attributes["comments"] = [_read_comment(c) for c in kids.get(_COMMENT, ())]
    availability = kids.get(_AVAILABILITY, _NONE)[0]
    attributes["data_availability"] = (None if availability is None else
                                       _sx._read_data_availability(availability, _ns))


def _base_node_setters(element: Element, kids: Kids, obj: Any) -> None:
    """The rest of ``_read_base_node`` (see :func:`_base_node_attributes`)."""
    identifiers = []
    for identifier in kids.get(_IDENTIFIER, ()):
        scheme = identifier.get("type")
        path = identifier.text
        identifiers.append(path if scheme is None else scheme + ":" + path)
    source_id = element.get("sourceID")
    if identifiers or source_id:  # ObsPy's setters check them (and warn)
        obj.identifiers = identifiers
        obj.source_id = source_id
    else:  # what the setters store for none
        obj.__dict__["_identifiers"] = identifiers
        obj.__dict__["_source_id"] = None
    _extra(element, obj)


def _read_equipment(element: Element) -> Equipment:
    kids = _kids(element)
    obj = Equipment.__new__(Equipment)  # what its constructor stores, without it
    obj.__dict__ = {
        "type": _tag2obj(kids, _TYPE, str),
        "description": _tag2obj(kids, _DESCRIPTION, str),
        "manufacturer": _tag2obj(kids, _MANUFACTURER, str),
        "vendor": _tag2obj(kids, _VENDOR, str),
        "model": _tag2obj(kids, _MODEL, str),
        "serial_number": _tag2obj(kids, _SERIAL, str),
        "installation_date": _tag2obj(kids, _INSTALLATION, _date),
        "removal_date": _tag2obj(kids, _REMOVAL, _date),
        "calibration_dates": [UTCDateTime(e.text) for e in kids.get(_CALIBRATION_DATE, ())],
        "resource_id": element.get("resourceId"),
    }
    _extra(element, obj)
    return obj


def _read_comment(element: Element) -> Comment:
    # the first Value, BeginEffectiveTime and EndEffectiveTime (ObsPy's find), every
    # Author: one pass over the children (IRIS documents: ~50 comments per channel)
    value: Element = None
    begin: Element = None
    end: Element = None
    authors = []
    for child in element:
        tag = child.tag
        if tag == _VALUE:
            if value is None:
                value = child
        elif tag == _BEGIN:
            if begin is None:
                begin = child
        elif tag == _END:
            if end is None:
                end = child
        elif tag == _AUTHOR:
            authors.append(_sx._read_person(child, _ns))
    value = None if value is None else value.text or ""
    begin = None if begin is None else _convert(begin.text, _date)
    end = None if end is None else _convert(end.text, _date)
    number = _attr2obj(element, "id", int)
    subject = _attr2obj(element, "subject", str)
    if number is not None and number < 0:  # ObsPy's constructor raises its error
        return Comment(value=value, id=number)
    obj = Comment.__new__(Comment)  # what its constructor and setters store, without them
    obj.__dict__ = {"_value": str(value), "_begin_effective_time": begin,
                    "_end_effective_time": end, "_authors": authors, "_id": number,
                    "subject": subject}
    _extra(element, obj)
    return obj
