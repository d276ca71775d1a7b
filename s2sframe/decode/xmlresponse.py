"""A StationXML ``<Response>`` element as ObsPy reads it, faster.

:func:`read_response_element` does what ObsPy's ``obspy.io.stationxml.core``
``_read_response`` does, function for function (``_read_instrument_sensitivity``,
``_read_instrument_polynomial``, ``_read_response_stage`` and its nested
``_tag2pole_or_zero``), with the helpers and fast paths of :mod:`.xmlskeleton`:

- each element's children are indexed once (tag -> elements) instead of one
  ``find`` per tag ObsPy looks for (~15 per stage, most absent);
- float types (``Frequency``, decimation delays, response list values...) are
  made by :mod:`.xmlskeleton`'s ``_read_floattype`` (ObsPy's attributes without
  its constructors; bad values through ObsPy's function, with its warnings);
- poles and zeros are given the attributes ``ComplexWithUncertainties`` and its
  setters store, without running them (uncertainties through its own
  ``_uncertainty``);
- ``_read_extra`` runs where it can find something (:func:`.xmlskeleton._extra`).

Stages, sensitivities and polynomials are still made by ObsPy's constructors (their
setters check and convert what they are given), and coefficient lists by ObsPy's
``_read_floattype_list`` unless the caller made them (``preset``: :mod:`.lazyxml`
builds FIR, numerator and denominator lists straight from the bytes). The result
equals ObsPy's attribute by attribute, with the same warnings and errors
(``tests/test_lazyxml.py``: ObsPy's and pyasdf's test-data corpus, real GEOFON
documents, variants of every stage type and optional element).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from obspy.core.inventory import (
    CoefficientsTypeResponseStage,
    FIRResponseStage,
    PolesZerosResponseStage,
    PolynomialResponseStage,
    ResponseListResponseStage,
    ResponseStage,
)
from obspy.core.inventory.response import (
    CoefficientWithUncertainties,
    FilterCoefficient,
    InstrumentPolynomial,
    InstrumentSensitivity,
    Response,
    ResponseListElement,
)
from obspy.core.inventory.util import Angle, Frequency
from obspy.core.util.obspy_types import ComplexWithUncertainties, FloatWithUncertaintiesAndUnit
from obspy.io.stationxml import core as _sx

from .xmlskeleton import (
    _NONE,
    _STATE,
    Element,
    Kids,
    _attr2obj,
    _convert,
    _extra,
    _kids,
    _ns,
    _read_floattype,
    _tag2obj,
    custom_namespaces,
)

__all__ = ["read_response_element"]

#: the stage types in the order ObsPy looks for them
STAGE_TYPES = tuple(_ns(t) for t in ("PolesZeros", "Coefficients", "ResponseList", "FIR",
                                     "Polynomial"))
_POLES_ZEROS, _COEFFICIENTS, _RESPONSE_LIST, _FIR, _POLYNOMIAL = STAGE_TYPES
(_SENSITIVITY, _INSTRUMENT_POLYNOMIAL, _STAGE, _STAGE_GAIN, _VALUE, _FREQUENCY,
 _DECIMATION, _INPUT_RATE, _FACTOR, _OFFSET, _DELAY, _CORRECTION, _INPUT_UNITS,
 _OUTPUT_UNITS, _NAME, _DESCRIPTION, _PZ_TYPE, _NORM_FACTOR, _NORM_FREQUENCY, _ZERO,
 _POLE, _REAL, _IMAGINARY, _CF_TYPE, _NUMERATOR, _DENOMINATOR, _RL_ELEMENT, _AMPLITUDE,
 _PHASE, _SYMMETRY, _FIR_COEFFICIENT, _APPROXIMATION, _F_LOW, _F_HIGH, _A_LOW, _A_HIGH,
 _MAX_ERROR, _COEFFICIENT, _F_START, _F_END, _DB_VARIATION) = (_ns(t) for t in (
    "InstrumentSensitivity", "InstrumentPolynomial", "Stage", "StageGain", "Value",
    "Frequency", "Decimation", "InputSampleRate", "Factor", "Offset", "Delay",
    "Correction", "InputUnits", "OutputUnits", "Name", "Description",
    "PzTransferFunctionType", "NormalizationFactor", "NormalizationFrequency", "Zero",
    "Pole", "Real", "Imaginary", "CfTransferFunctionType", "Numerator", "Denominator",
    "ResponseListElement", "Amplitude", "Phase", "Symmetry", "NumeratorCoefficient",
    "ApproximationType", "FrequencyLowerBound", "FrequencyUpperBound",
    "ApproximationLowerBound", "ApproximationUpperBound", "MaximumError", "Coefficient",
    "FrequencyStart", "FrequencyEnd", "FrequencyDBVariation"))

#: ``preset(type_element)``: the coefficient lists the caller made for a stage's type
#: element (stage attribute -> ObsPy's objects, e.g. ``{"_coefficients": [...]}``),
#: or None to read them with ObsPy's ``_read_floattype_list``
Preset = Callable[[Element], "dict[str, list[Any]] | None"]


def _no_preset(element: Element) -> None:
    return None


def read_response_element(element: Element, preset: Preset = _no_preset,
                          custom: bool | None = None) -> Response:
    """The ObsPy Response of a ``<Response>`` element, as ObsPy's ``_read_response``.

    Parameters
    ----------
    element : lxml.etree._Element
        A ``<Response>`` element of the FDSN StationXML namespace.
    preset : callable, optional
        See :data:`Preset` (default: ObsPy reads every coefficient list).
    custom : bool, optional
        Whether custom namespaces may be declared in or above ``element`` (their
        elements and attributes are read into ``extra``, as ObsPy does); default:
        whether ``element`` sees one (:func:`.xmlskeleton.custom_namespaces`).

    Returns
    -------
    obspy.core.inventory.response.Response
        Equal to ObsPy's, attribute by attribute (units not fixed:
        ``_attempt_to_fix_units`` is the caller's, as in ObsPy's reader).

    Examples
    --------
    >>> import io, obspy
    >>> from lxml import etree
    >>> from obspy.io.stationxml.core import _read_response
    >>> buf = io.BytesIO()
    >>> obspy.read_inventory().write(buf, format="STATIONXML")
    >>> root = etree.fromstring(buf.getvalue())
    >>> element = next(root.iter("{*}Response"))
    >>> ns = lambda tag: "{http://www.fdsn.org/xml/station/1}" + tag
    >>> read_response_element(element) == _read_response(element, ns)
    True
    """
    previous = getattr(_STATE, "custom", False)
    _STATE.custom = custom_namespaces(element) if custom is None else custom
    try:
        return _read_response(element, preset)
    finally:
        _STATE.custom = previous


def _read_response(element: Element, preset: Preset) -> Response:
    kids = _kids(element)
    response = Response()
    resource_id = element.get("resourceId")
    response.resource_id = None if resource_id is None else str(resource_id)
    sensitivity = kids.get(_SENSITIVITY, _NONE)[0]
    if sensitivity is not None:
        response.instrument_sensitivity = _read_instrument_sensitivity(sensitivity)
    polynomial = kids.get(_INSTRUMENT_POLYNOMIAL, _NONE)[0]
    if polynomial is not None:
        response.instrument_polynomial = _read_instrument_polynomial(polynomial)
    stages = response.response_stages
    for stage in kids.get(_STAGE, ()):
        if not len(stage):
            continue
        stages.append(_read_response_stage(stage, preset))
    _extra(element, response)
    return response


def _units(kids: Kids, tag: str) -> tuple[str | None, str | None]:
    """(name, description) of an ``InputUnits``/``OutputUnits`` child, as ObsPy."""
    units = kids.get(tag, _NONE)[0]
    if units is None:
        return None, None
    units_kids = _kids(units)
    return _tag2obj(units_kids, _NAME, str), _tag2obj(units_kids, _DESCRIPTION, str)


def _read_instrument_sensitivity(element: Element) -> InstrumentSensitivity:
    kids = _kids(element)
    input_units, input_description = _units(kids, _INPUT_UNITS)
    output_units, output_description = _units(kids, _OUTPUT_UNITS)
    sensitivity = InstrumentSensitivity(
        value=_tag2obj(kids, _VALUE, float), frequency=_tag2obj(kids, _FREQUENCY, float),
        input_units=input_units, output_units=output_units)
    sensitivity.input_units_description = input_description
    sensitivity.output_units_description = output_description
    sensitivity.frequency_range_start = _tag2obj(kids, _F_START, float)
    sensitivity.frequency_range_end = _tag2obj(kids, _F_END, float)
    sensitivity.frequency_range_db_variation = _tag2obj(kids, _DB_VARIATION, float)
    _extra(element, sensitivity)
    return sensitivity


def _polynomial_fields(element: Element, kids: Kids) -> dict[str, Any]:
    """What ObsPy reads alike for an instrument polynomial and a polynomial stage."""
    return {
        "approximation_type": _tag2obj(kids, _APPROXIMATION, str),
        "frequency_lower_bound": _read_floattype(kids, _F_LOW, Frequency),
        "frequency_upper_bound": _read_floattype(kids, _F_HIGH, Frequency),
        "approximation_lower_bound": _tag2obj(kids, _A_LOW, float),
        "approximation_upper_bound": _tag2obj(kids, _A_HIGH, float),
        "maximum_error": _tag2obj(kids, _MAX_ERROR, float),
        "coefficients": _sx._read_floattype_list(element, _COEFFICIENT,
                                                 CoefficientWithUncertainties,
                                                 additional_mapping={"number": "number"}),
    }


def _read_instrument_polynomial(element: Element) -> InstrumentPolynomial:
    kids = _kids(element)
    input_units, input_description = _units(kids, _INPUT_UNITS)
    output_units, output_description = _units(kids, _OUTPUT_UNITS)
    obj = InstrumentPolynomial(
        input_units=input_units, input_units_description=input_description,
        output_units=output_units, output_units_description=output_description,
        description=_tag2obj(kids, _DESCRIPTION, str),
        resource_id=element.get("resourceId"), name=element.get("name"),
        **_polynomial_fields(element, kids))
    _extra(element, obj)
    return obj


def _read_response_stage(stage: Element, preset: Preset) -> ResponseStage:
    number = int(stage.get("number"))  # required: TypeError without it, as ObsPy
    resource_id = stage.get("resourceId")
    resource_id = None if resource_id is None else str(resource_id)
    kids = _kids(stage)
    gain = kids.get(_STAGE_GAIN, _NONE)[0]
    if gain is None:
        stage_gain = stage_gain_frequency = None
    else:
        gain_kids = _kids(gain)
        stage_gain = _tag2obj(gain_kids, _VALUE, float)
        stage_gain_frequency = _tag2obj(gain_kids, _FREQUENCY, float)
    decimation = kids.get(_DECIMATION, _NONE)[0]
    if decimation is None:
        rate = factor = offset = delay = correction = None
    else:
        dkids = _kids(decimation)
        rate = _read_floattype(dkids, _INPUT_RATE, Frequency)
        factor = _tag2obj(dkids, _FACTOR, int)
        offset = _tag2obj(dkids, _OFFSET, int)
        delay = _read_floattype(dkids, _DELAY, FloatWithUncertaintiesAndUnit, unit=True)
        correction = _read_floattype(dkids, _CORRECTION, FloatWithUncertaintiesAndUnit,
                                     unit=True)
    elem = None
    for tag in STAGE_TYPES:
        elem = kids.get(tag, _NONE)[0]
        if elem is not None:
            break
    else:
        if stage_gain is not None and stage_gain_frequency is not None:
            return ResponseStage(
                stage_sequence_number=number, stage_gain=stage_gain,
                stage_gain_frequency=stage_gain_frequency, resource_id=resource_id,
                input_units=None, output_units=None, decimation_input_sample_rate=rate,
                decimation_factor=factor, decimation_offset=offset,
                decimation_delay=delay, decimation_correction=correction)
        raise ValueError("Could not find a valid Response Stage Type.")
    ekids = _kids(elem)
    input_units, input_description = _units(ekids, _INPUT_UNITS)
    output_units, output_description = _units(ekids, _OUTPUT_UNITS)
    name = elem.get("name")
    resource_id2 = elem.get("resourceId")
    kwargs = {"stage_sequence_number": number, "input_units": input_units,
              "output_units": output_units, "input_units_description": input_description,
              "output_units_description": output_description, "resource_id": resource_id,
              "resource_id2": None if resource_id2 is None else str(resource_id2),
              "stage_gain": stage_gain, "stage_gain_frequency": stage_gain_frequency,
              "name": None if name is None else str(name),
              "description": _tag2obj(ekids, _DESCRIPTION, str),
              "decimation_input_sample_rate": rate, "decimation_factor": factor,
              "decimation_offset": offset, "decimation_delay": delay,
              "decimation_correction": correction}
    tag = elem.tag
    obj: ResponseStage
    if tag == _POLES_ZEROS:
        obj = PolesZerosResponseStage(
            pz_transfer_function_type=_tag2obj(ekids, _PZ_TYPE, str),
            normalization_frequency=_read_floattype(ekids, _NORM_FREQUENCY, Frequency),
            normalization_factor=_tag2obj(ekids, _NORM_FACTOR, float),
            zeros=[_pole_or_zero(e) for e in ekids.get(_ZERO, ())],
            poles=[_pole_or_zero(e) for e in ekids.get(_POLE, ())], **kwargs)
    elif tag == _COEFFICIENTS:
        lists = preset(elem)
        if lists is None:
            mapping = {"number": "number"}
            numerator = _sx._read_floattype_list(elem, _NUMERATOR,
                                                 CoefficientWithUncertainties,
                                                 additional_mapping=mapping)
            denominator = _sx._read_floattype_list(elem, _DENOMINATOR,
                                                   CoefficientWithUncertainties,
                                                   additional_mapping=mapping)
        else:
            numerator = denominator = []
        obj = CoefficientsTypeResponseStage(
            cf_transfer_function_type=_tag2obj(ekids, _CF_TYPE, str),
            numerator=numerator, denominator=denominator, **kwargs)
        _set(obj, lists)
    elif tag == _RESPONSE_LIST:
        items = []
        for item in ekids.get(_RL_ELEMENT, ()):
            ikids = _kids(item)
            items.append(ResponseListElement(
                frequency=_read_floattype(ikids, _FREQUENCY, Frequency),
                amplitude=_read_floattype(ikids, _AMPLITUDE, FloatWithUncertaintiesAndUnit,
                                          unit=True),
                phase=_read_floattype(ikids, _PHASE, Angle)))
        obj = ResponseListResponseStage(response_list_elements=items, **kwargs)
    elif tag == _FIR:
        lists = preset(elem)
        coefficients = [] if lists is not None else _sx._read_floattype_list(
            elem, _FIR_COEFFICIENT, FilterCoefficient, additional_mapping={"i": "number"})
        obj = FIRResponseStage(coefficients=coefficients,
                               symmetry=_tag2obj(ekids, _SYMMETRY, str), **kwargs)
        _set(obj, lists)
    else:
        obj = PolynomialResponseStage(**_polynomial_fields(elem, ekids), **kwargs)
    _extra(elem, obj)
    return obj


def _set(obj: Any, lists: dict[str, list[Any]] | None) -> None:
    if lists is not None:
        for attribute, values in lists.items():
            setattr(obj, attribute, values)


_new_complex = complex.__new__
_uncertainty = ComplexWithUncertainties._uncertainty


def _pole_or_zero(element: Element) -> ComplexWithUncertainties:
    """ObsPy's ``_tag2pole_or_zero``: the attributes ``ComplexWithUncertainties``
    and its setters store, without running them where it is given two numbers."""
    kids = _kids(element)
    real_element = kids.get(_REAL, _NONE)[0]
    imag_element = kids.get(_IMAGINARY, _NONE)[0]
    real: Any = None if real_element is None else _convert(real_element.text, float)
    imag: Any = None if imag_element is None else _convert(imag_element.text, float)
    if real is not None or imag is not None:
        real = real or 0
        imag = imag or 0
    if real is not None:  # two floats (or an int 0): what its constructor stores
        x: Any = _new_complex(ComplexWithUncertainties, real, imag)
        attributes: dict[str, Any] = {"_upper_uncertainty": None, "_lower_uncertainty": None,
                                      "measurement_method_real": None,
                                      "measurement_method_imag": None}
        x.__dict__ = attributes
    else:  # neither: its constructor (raises as in ObsPy)
        x = ComplexWithUncertainties(real, imag)
        attributes = x.__dict__
    # AttributeError without Real or Imaginary, as ObsPy
    if real_element.keys() or imag_element.keys():  # noqa: SIM118 - lxml: a list
        for key, attribute in (("minusError", "_lower_uncertainty"),
                               ("plusError", "_upper_uncertainty")):
            real = _attr2obj(real_element, key, float)
            imag = _attr2obj(imag_element, key, float)
            if real is not None or imag is not None:
                attributes[attribute] = _uncertainty(complex(real or 0, imag or 0))
        attributes["measurement_method_real"] = _attr2obj(real_element, "measurementMethod",
                                                          str)
        attributes["measurement_method_imag"] = _attr2obj(imag_element, "measurementMethod",
                                                          str)
    attributes["number"] = _attr2obj(element, "number", int)
    return x
