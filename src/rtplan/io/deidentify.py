"""De-identification: the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile.

:func:`deidentify` copies a DICOM file or folder (CT, RT Structure Set, RT Plan, RT Dose,
Secondary Capture, presentation state, any other composite object) into a new folder with
the identifying information removed, so that the copies still form one study:
:func:`rtplan.load_study` on the output finds the same CT, structures, plan and dose, each
referencing the others. :class:`Deidentifier` does the same to one dataset; the writers
take it as ``deidentify=`` (through :func:`rtplan.io.save_dataset`), so an object rtplan
writes joins a de-identified study.

What is done to each object (PS3.15 E.1.1, Table E.1-1, the Basic Profile column of the
2024b edition):

* every attribute of Table E.1-1 is removed (X), emptied (Z), given a dummy value (D),
  cleaned (C) or given a new UID (U) as the table says, in the main dataset and in every
  sequence item. A compound code (X/Z, X/D, X/Z/D, Z/D, X/Z/U*) resolves to the lightest
  action the object's definition allows: removal for an optional attribute, an empty value
  for a Type 2 one, a dummy for a Type 1 one, and for a required reference sequence its
  items kept with their UIDs replaced. An attribute the table removes but the object
  requires (the presentation state's creation date) is given a dummy instead;
* UIDs are replaced consistently across every file of a run: each original UID maps to
  ``2.25.<n>``, ``n`` a keyed hash (HMAC-SHA-256) of the UID under the run's secret
  salt, so the CT, RT Structure Set, RT Plan and RT Dose still reference one another
  (Referenced SOP Instance UID, Frame of Reference UID, Study and Series Instance UIDs).
  Besides the table's U attributes, any other UID that is not a UID of the DICOM
  standard (a SOP class, a transfer syntax, a coding scheme) is replaced the same way;
* Patient ID becomes a pseudonym (``ANON`` and 12 hex digits, from the same keyed hash),
  so that the objects of one patient stay together and two patients stay apart; Patient's
  Name becomes ``ANONYMOUS``; birth date, sex, study date and time, accession number,
  referring physician and study ID are emptied;
* private attributes, overlays (groups 60xx), curves (50xx) and attributes of unknown
  value representation (UN) are removed; any other person name (PN) is emptied;
* texts kept by the profile (ROI names, beam names, dose comments, code meanings) are
  *cleaned*: a text that contains an identifying value found in the run (a part of a
  patient or physician name, an ID, the birth date, the accession number, the
  institution) is replaced by a neutral one (``ROI<number>`` for an ROI name);
* Patient Identity Removed (0012,0062) is ``YES``; De-identification Method (0012,0063)
  and De-identification Method Code Sequence (0012,0064) record the profile (DCM 113100)
  and the options applied: Retain Patient Characteristics (113108) when asked, and Clean
  Graphics (113103) for objects that carry graphic annotations (a presentation state's
  needle drawing is kept, its texts cleaned); Longitudinal Temporal Information Modified
  (0028,0303) is ``REMOVED``;
* the file meta information is rebuilt (new Media Storage SOP Instance UID, rtplan's
  implementation, an empty preamble), the transfer syntax and pixel data kept as they are.

Kept on purpose, and why:

* **ROI Name** (3006,0026): the 2024b table empties it (Z). rtplan and every planning
  system find structures by name (``study.structures["PTV"]``, clinical goals), so the
  names are kept, cleaned as above.
* **Pixel data**: the basic profile does not clean pixels. An image that declares burned-in
  annotation (Burned In Annotation ``YES``, as rtplan's captures with
  ``show_patient=True``) is not copied: :func:`deidentify` skips it with a warning.

Output files are named ``<MODALITY>.<new SOP Instance UID>.dcm``: never from a DICOM value
or an input file name. The whole output is written as one set (all or nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from rtplan._version import __version__
from rtplan._warn import warn
from rtplan.errors import DicomReadError, RtplanError, RtplanWarning

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

__all__ = [
    "BASIC_PROFILE",
    "DeidentificationResult",
    "Deidentifier",
    "deidentify",
]

logger = logging.getLogger(__name__)

#: Table E.1-1 of DICOM PS3.15 (2024b), the Basic Profile column: action code -> tags
#: (GGGGEEEE). Groups 50xx (curves) and 60xx (overlays) are removed whole, in code.
_TABLE_E11: dict[str, str] = {
    "X": (
        "00001000 00080015 00080024 00080025 00080034 00080035 00080054 00080055 00080081 00080092 "
        "00080094 00080096 0008009D 00080201 00081000 00081030 0008103E 00081040 00081041 00081048 "
        "00081049 00081050 00081052 00081060 00081062 00081080 00081084 00081088 00081120 00082111 "
        "00084000 00100021 00100032 00100050 00100101 00100102 00101000 00101001 00101002 00101005 "
        "00101010 00101020 00101030 00101040 00101050 00101060 00101080 00101081 00101090 00101100 "
        "00102000 00102110 00102150 00102152 00102154 00102155 00102160 00102180 001021A0 001021B0 "
        "001021C0 001021D0 001021F0 00102297 00102299 00104000 00120022 00120023 00120032 00120041 "
        "00120043 00120051 00120055 00120071 00120072 00120073 00120082 00120086 00120087 0014407C "
        "0014407E 0016002B 0016004B 0016004D 0016004E 0016004F 00160050 00160051 00160070 00160071 "
        "00160072 00160073 00160074 00160075 00160076 00160077 00160078 00160079 0016007A 0016007B "
        "0016007C 0016007D 0016007E 0016007F 00160080 00160081 00160082 00160083 00160084 00160085 "
        "00160086 00160087 00160088 00160089 0016008A 0016008B 0016008C 0016008D 0016008E 00180027 "
        "00180035 00181004 00181005 00181007 00181008 00181009 0018100A 00181012 00181014 00181042 "
        "00181043 00181072 00181073 00181078 00181079 00181200 00181201 00181202 00181204 00181205 "
        "00184000 00185011 00189185 00189373 0018937B 0018937F 00189424 00189937 0018A002 0018A003 "
        "00200027 00203401 00203403 00203405 00203406 00204000 00209158 00284000 00320012 00320032 "
        "00320033 00320034 00320035 00321000 00321001 00321010 00321011 00321020 00321021 00321030 "
        "00321032 00321033 00321040 00321041 00321050 00321051 00321066 00321067 00321070 00324000 "
        "00380004 00380010 00380011 00380014 0038001A 0038001B 0038001C 0038001D 0038001E 00380020 "
        "00380021 00380030 00380032 00380040 00380050 00380060 00380061 00380062 00380064 00380300 "
        "00380400 00380500 00384000 003A0329 003A032B 00400001 00400002 00400003 00400004 00400005 "
        "00400006 00400007 00400009 0040000B 00400010 00400011 00400012 00400241 00400242 00400243 "
        "00400244 00400245 00400250 00400251 00400253 00400254 00400275 00400280 00400310 0040050A "
        "0040051A 00400600 00400602 004006FA 00401001 00401002 00401004 00401005 0040100A 00401010 "
        "00401011 00401102 00401103 00401104 00401400 00402001 00402004 00402005 00402008 00402009 "
        "00402010 00402011 00402400 00403001 00404005 00404008 00404010 00404011 00404025 00404027 "
        "00404028 00404030 00404034 00404035 00404036 00404037 00404050 00404051 00404052 0040A023 "
        "0040A024 0040A033 0040A078 0040A07A 0040A07C 0040A110 0040A112 0040A192 0040A193 0040A307 "
        "0040A352 0040A353 0040A354 0040A358 0040DB06 0040DB07 0040E004 00440004 0044000B 00440010 "
        "00440105 0050001B 00500020 00500021 006A0006 00700082 00700083 00700086 00741234 00741236 "
        "00880200 00880904 00880906 00880910 00880912 01000420 04000310 04000402 04000403 04000404 "
        "04000550 04000551 04000552 04000561 04000600 20300020 21000040 21000050 21000070 30020121 "
        "30020123 30060004 30060006 30060028 3006002D 3006002E 30060038 3006004D 3006004E 30060085 "
        "30060088 300A0003 300A0004 300A000B 300A000E 300A0016 300A0072 300A00C3 300A00DD 300A0196 "
        "300A01A6 300A01B2 300A0216 300A02EB 300A0676 300A078E 300A0792 300A0794 300A079A 300C0113 "
        "30100036 30100037 30100061 30100085 40000010 40004000 40080040 40080042 40080100 40080101 "
        "40080102 40080108 40080109 4008010A 4008010B 4008010C 40080111 40080112 40080113 40080114 "
        "40080115 40080118 40080119 4008011A 40080200 40080202 40080300 40084000 FFFAFFFA FFFCFFFC "
    ),
    "Z": (
        "00080020 00080030 00080050 00080090 0008009C 00100010 00100030 00100040 00120021 00120030 "
        "00120031 00120050 00120060 00181203 00200010 00400513 00400562 00400610 00402016 00402017 "
        "0040A082 0040A088 04000564 30060008 30060009 30060026 300600A6 300A0611 300A0615 300A067D "
        "300E0004 300E0005 3010000F 30100017 3010001B 30100043 3010005A 3010005C 3010007A 3010007B "
        "3010007F 30100081 "
    ),
    "D": (
        "00080106 00080107 00120010 00120020 00120040 00120042 00120081 001811BB 00189074 00189151 "
        "00189367 00189369 0018936A 00189371 00189623 00189701 00189804 00340001 00340002 00340005 "
        "00340007 003A0314 00400512 00400551 00401101 0040A027 0040A030 0040A073 0040A075 0040A120 "
        "0040A121 0040A122 0040A123 0040A13A 0040A730 00420011 00440104 00686226 00686270 006A0003 "
        "006A0005 00700001 0072000A 0072005E 0072005F 00720061 00720063 00720065 00720066 00720068 "
        "0072006A 0072006B 0072006C 0072006D 0072006E 00720070 00720071 04000105 04000115 04000562 "
        "04000563 04000565 21000140 30060002 30080024 30080025 30080162 30080164 30080166 30080168 "
        "300A0002 300A022C 300A022E 300A0608 300A0619 300A0623 300A062A 300A067C 300A0734 300A0736 "
        "300A073A 300A0741 300A0742 300A0760 300A0783 300C0127 3010002D 30100033 30100034 30100035 "
        "30100038 30100054 "
    ),
    "U": (
        "00001001 00020003 00041511 00080014 00080017 00080018 00080019 00080058 00081155 00081195 "
        "00083010 00181002 0018100B 00182042 0020000D 0020000E 00200052 00200200 00209161 00209164 "
        "00281199 00281214 003A0310 00400554 00404023 0040A124 0040A171 0040A172 0040A402 0040DB0C "
        "0040DB0D 00620021 00640003 0070031A 00701101 00701102 00880140 04000100 30060024 300600C2 "
        "300A0013 300A0083 300A0609 300A0650 300A0700 300A0785 30100006 3010000B 30100013 30100015 "
        "30100031 3010003B 3010006E 3010006F "
    ),
    "Z/D": ("00080023 00080033 00100020 00180010 00189919 00700084 "),
    "X/Z": (
        "00080022 00080032 00081110 00102203 00321060 00400555 22000002 22000005 30080105 300A00B2 "
        "300E0008 "
    ),
    "X/D": (
        "00080012 00080021 00080031 00081072 00181030 00181400 0018700A 0018700C 0018700E 00189516 "
        "00189517 0040A032 30080054 30080056 30080250 30080251 300A0006 300A0007 3010004C 3010004D "
        "30100056 30100077 "
    ),
    "X/Z/D": ("00080013 0008002A 00080080 00080082 00081010 00081070 00081111 00181000 "),
    "X/Z/U*": ("00081140 00082112 "),
}

#: Patient characteristics kept by the Retain Patient Characteristics Option (113108):
#: the attributes the option marks K (those it marks C are removed as by the profile).
_PATIENT_CHARACTERISTICS = frozenset(
    {
        "PatientSex",
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "EthnicGroup",
        "SmokingStatus",
        "PregnancyStatus",
        "PatientSexNeutered",
    }
)
#: Attributes the objects rtplan reads and writes require (PS3.3): an action that would
#: remove one gives it a dummy (Type 1) or an empty value (Type 2) instead.
_TYPE1 = frozenset(
    {
        "PresentationCreationDate",
        "PresentationCreationTime",
        "StructureSetLabel",
        "RTPlanLabel",
        "DeviceSerialNumber",
    }
)
_TYPE2 = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyDate",
        "StudyTime",
        "ReferringPhysicianName",
        "StudyID",
        "AccessionNumber",
        "StructureSetDate",
        "StructureSetTime",
        "RTPlanDate",
        "RTPlanTime",
        "ContentDate",
        "ContentTime",
        "ROIInterpreter",
        "TreatmentMachineName",
        "ContentCreatorName",
        "OperatorsName",
    }
)
#: Whose values identify someone: other texts that contain them are cleaned.
_IDENTIFYING = frozenset(
    {
        "PatientName",
        "PatientID",
        "OtherPatientIDs",
        "OtherPatientNames",
        "PatientBirthName",
        "PatientMotherBirthName",
        "PatientBirthDate",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "MedicalRecordLocator",
        "AccessionNumber",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "StationName",
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "PhysiciansOfRecord",
        "NameOfPhysiciansReadingStudy",
        "OperatorsName",
        "RequestingPhysician",
        "ConsultingPhysicianName",
    }
)
#: Dummy values (action D) by keyword, then by value representation.
_DUMMY_BY_KEYWORD = {
    "PatientName": "ANONYMOUS",
    "StructureSetLabel": "RTSTRUCT",
    "RTPlanLabel": "RTPLAN",
}
_DUMMY_BY_VR = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "IS": "0",
    "DS": "0",
    "CS": "ANONYMOUS",
}
_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC"})
_MIN_NEEDLE = 3  # shorter parts of names and IDs are too common to look for

#: De-identification Method Code Sequence codes (DICOM CID 7050).
BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
_RETAIN_PATIENT_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")
_CLEAN_GRAPHICS = ("113103", "Clean Graphics Option")


@cache
def _actions() -> dict[int, str]:
    """Table E.1-1 as tag -> action code."""
    return {int(tag, 16): code for code, tags in _TABLE_E11.items() for tag in tags.split()}


def _standard_uid(value: str) -> bool:
    """Whether a UID is one of the DICOM standard's own (SOP class, transfer syntax...)."""
    from pydicom.uid import UID

    return UID(value).name != value


# ---------------------------------------------------------------------------- the options
@dataclass(frozen=True, kw_only=True, slots=True)
class Deidentifier:
    """The options and the secret of one de-identification run.

    One object de-identifies every file of a run (and every object written with
    ``deidentify=`` the same object) consistently: an original UID or Patient ID always
    maps to the same replacement under the same ``salt``.

    Parameters
    ----------
    salt : str
        The secret key of the UID and Patient ID replacements (HMAC-SHA-256); random by
        default. Keep it secret: whoever holds it and an original UID can tell which
        de-identified object it became. Give the same salt to de-identify later files of
        the same patients consistently.
    retain_patient_characteristics : bool
        Apply the Retain Patient Characteristics Option (DCM 113108): keep sex, age,
        size, weight, ethnic group, smoking and pregnancy status.
    patient_id : str, optional
        The Patient ID to write; by default a pseudonym ``ANON`` + 12 hex digits derived
        from the original ID and the salt.
    patient_name : str
        The Patient's Name to write.

    Examples
    --------
    >>> from rtplan.io import Deidentifier
    >>> d = Deidentifier(salt="project secret")
    >>> d.uid("1.2.3.4") == Deidentifier(salt="project secret").uid("1.2.3.4")
    True
    >>> d.uid("1.2.3.4").startswith("2.25."), d.pseudonym("12345")
    (True, 'ANONC40100584258')
    """

    salt: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    retain_patient_characteristics: bool = False
    patient_id: str | None = None
    patient_name: str = "ANONYMOUS"

    def __post_init__(self) -> None:
        if not self.salt:
            raise RtplanError("the de-identification salt must not be empty")

    def _digest(self, kind: str, value: str) -> bytes:
        key = self.salt.encode("utf-8")
        return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """The replacement of a UID: ``2.25.`` and a UUID-derived integer (PS3.5 B.2)."""
        digest = self._digest("uid", original.strip().rstrip("\0"))
        return f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"

    def pseudonym(self, patient_id: str) -> str:
        """The Patient ID written for an original one."""
        if self.patient_id is not None:
            return self.patient_id
        return "ANON" + self._digest("patient", patient_id.strip()).hex()[:12].upper()

    def apply(self, ds: Dataset, *, identifiers: Iterable[str] = ()) -> Dataset:
        """De-identify a dataset in place (and its file meta, when it has one).

        Parameters
        ----------
        ds : pydicom.Dataset
            Changed in place.
        identifiers : iterable of str
            More identifying values to clean from kept texts (those of the other files of
            the run); the dataset's own are always used.

        Returns
        -------
        pydicom.Dataset
            ``ds``.

        Examples
        --------
        >>> from pydicom.dataset import Dataset
        >>> from rtplan.io import Deidentifier
        >>> ds = Dataset()
        >>> ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "123456", "19700101"
        >>> ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.99.1"
        >>> ds.StudyDescription = "Jane's scan"
        >>> _ = Deidentifier(salt="s").apply(ds)
        >>> str(ds.PatientName), ds.PatientBirthDate, ds.PatientIdentityRemoved
        ('ANONYMOUS', '', 'YES')
        >>> "StudyDescription" in ds, ds.SOPInstanceUID.startswith("2.25.")
        (False, True)
        """
        needles = _needles([*identifying_values(ds), *identifiers])
        original_id = str(ds.get("PatientID", "") or "")
        run = _Run(deid=self, needles=needles, patient_id=self.pseudonym(original_id))
        _walk(ds, run, depth=0)
        _record_method(ds, self)
        _file_meta(ds)
        return ds


@dataclass(kw_only=True, slots=True)
class _Run:
    """What the walk over one dataset needs and finds."""

    deid: Deidentifier
    needles: tuple[str, ...]
    patient_id: str


def identifying_values(ds: Dataset) -> list[str]:
    """The identifying values of a dataset (names, IDs, dates, institution), anywhere in it.

    Parameters
    ----------
    ds : pydicom.Dataset

    Returns
    -------
    list of str
    """
    found: list[str] = []
    for elem in ds.iterall():
        if elem.keyword in _IDENTIFYING and elem.value not in (None, ""):
            values = elem.value if elem.VM > 1 else [elem.value]
            found.extend(str(v) for v in values)
    return found


def _needles(values: Iterable[str]) -> tuple[str, ...]:
    """The strings to look for: each value and the parts of names, lower case."""
    out: set[str] = set()
    for value in values:
        text = str(value).strip()
        for part in (text, *re.split(r"[\^=\s,]+", text)):
            if len(part.strip()) >= _MIN_NEEDLE:
                out.add(part.strip().lower())
    return tuple(sorted(out, key=len, reverse=True))


def _identifying(text: str, run: _Run) -> bool:
    low = text.lower()
    return any(n in low for n in run.needles)


# ---------------------------------------------------------------------------- the walk
def _walk(ds: Dataset, run: _Run, *, depth: int) -> None:
    """Apply the profile to every element of ``ds`` and, recursively, of its items."""
    for tag in list(ds.keys()):
        elem = ds[tag]
        code = _code(elem, run, depth)
        _ACTIONS[code](ds, elem, run, depth)


def _code(elem: DataElement, run: _Run, depth: int) -> str:
    """The action for an element: the table's, resolved, or the safety net's."""
    tag = elem.tag
    if tag.is_private or tag.group & 0xFF00 in (0x5000, 0x6000) or elem.VR == "UN":
        return "X"
    keyword = elem.keyword
    if run.deid.retain_patient_characteristics and keyword in _PATIENT_CHARACTERISTICS:
        return "K"
    if keyword in ("PatientID", "PatientName"):
        return keyword
    if keyword == "ROIName":
        return "ROI"
    code = _actions().get(int(tag))
    if code is None:
        return _NET.get(elem.VR, "K")
    return _resolve(code, keyword, depth)


def _resolve(code: str, keyword: str, depth: int) -> str:
    """A compound code (or a removal the object cannot take) for this attribute."""
    if code in ("U", "D", "K", "C"):
        return code
    options = code.split("/")
    if code == "X/Z/U*" and depth > 0:  # a reference sequence inside a required item
        return "U*"
    if keyword in _TYPE1:
        return "D"
    if keyword in _TYPE2:
        return "Z" if "Z" in options else "D"
    return "X" if "X" in options else options[0]


#: Attributes outside the table, by value representation (everything else is kept).
_NET = {"SQ": "K", "UI": "UI", "PN": "Z", "DA": "C", "DT": "C", **dict.fromkeys(_TEXT_VRS, "C")}


def _remove(ds: Dataset, elem: DataElement, run: _Run, depth: int) -> None:
    del ds[elem.tag]


def _empty(ds: Dataset, elem: DataElement, run: _Run, depth: int) -> None:
    if elem.VR == "SQ":
        elem.value = []
    elif elem.VR in ("PN", "DA", "TM", "DT", "AS", "CS", "UI") or elem.VR in _TEXT_VRS:
        elem.value = ""
    else:
        elem.value = None


def _dummy(ds: Dataset, elem: DataElement, run: _Run, depth: int) -> None:
    if elem.VR == "SQ":  # a dummy sequence: its items, de-identified (and cleaned)
        _keep(ds, elem, run, depth)
    elif elem.VR == "UI":
        _new_uid(ds, elem, run, depth)
    elif elem.keyword == "PatientName":
        elem.value = run.deid.patient_name
    else:
        default = _DUMMY_BY_VR.get(elem.VR, "ANONYMOUS")
        elem.value = _DUMMY_BY_KEYWORD.get(elem.keyword, default)


def _keep(ds: Dataset, elem: DataElement, run: _Run, depth: int) -> None:
    if elem.VR == "SQ":
        for item in elem.value:
            _walk(item, run, depth=depth + 1)


def _clean(ds: Dataset, elem: DataElement, run: _Run, depth: int) -> None:
    """Keep a value unless it contains an identifying value; a sequence: its items."""
    if elem.VR == "SQ":
        _keep(ds, elem, run, depth)
        return
    if elem.value in (None, "") or not _identifying(str(elem.value), run):
        return
    if elem.VR in ("DA", "DT"):
        _dummy(ds, elem, run, depth)
    else:
        elem.value = "REMOVED"


def _new_uid(ds: Dataset, elem: DataElement, run: _Run, depth: int) -> None:
    """Replace the UID(s) of an element (never one of the standard's own)."""
    if elem.value in (None, ""):
        return
    values = list(elem.value) if elem.VM > 1 else [elem.value]
    new = [str(v) if _standard_uid(str(v)) else run.deid.uid(str(v)) for v in values]
    elem.value = new if elem.VM > 1 else new[0]


def _patient_id(ds: Dataset, elem: DataElement, run: _Run, depth: int) -> None:
    elem.value = run.patient_id


def _patient_name(ds: Dataset, elem: DataElement, run: _Run, depth: int) -> None:
    elem.value = run.deid.patient_name


def _roi_name(ds: Dataset, elem: DataElement, run: _Run, depth: int) -> None:
    if elem.value and _identifying(str(elem.value), run):
        elem.value = f"ROI{ds.get('ROINumber', '')}"


_ACTIONS: dict[str, Callable[[Dataset, DataElement, _Run, int], None]] = {
    "X": _remove,
    "Z": _empty,
    "D": _dummy,
    "K": _keep,
    "C": _clean,
    "U": _new_uid,
    "UI": _new_uid,
    "U*": _keep,
    "PatientID": _patient_id,
    "PatientName": _patient_name,
    "ROI": _roi_name,
}


# ---------------------------------------------------------------------------- records
def _code_item(code: tuple[str, str]) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue = code[0]
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = code[1]
    return item


def _record_method(ds: Dataset, deid: Deidentifier) -> None:
    """Patient Identity Removed, the method (text and codes), the temporal information.

    The method is the same in every file of a run (the attributes belong to the Patient,
    and one patient's instances must agree on them): overlays are always removed and the
    texts of graphic annotations always cleaned, so the Clean Graphics Option is recorded
    in every file, with or without graphics to clean.
    """
    from pydicom.sequence import Sequence

    codes = [BASIC_PROFILE]
    text = [f"rtplan {__version__}: PS3.15 E.1 Basic Profile"[:64]]
    if deid.retain_patient_characteristics:
        codes.append(_RETAIN_PATIENT_CHARACTERISTICS)
        text.append("Retain Patient Characteristics Option")
    codes.append(_CLEAN_GRAPHICS)
    text.append("Clean Graphics Option")
    before: list[str] = []
    if "DeidentificationMethod" in ds and ds["DeidentificationMethod"].VM:
        earlier = ds["DeidentificationMethod"]
        before = [str(v) for v in (earlier.value if earlier.VM > 1 else [earlier.value])]
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = [*before, *text]
    ds.DeidentificationMethodCodeSequence = Sequence(
        [*ds.get("DeidentificationMethodCodeSequence", []), *(_code_item(c) for c in codes)]
    )
    ds.LongitudinalTemporalInformationModified = "REMOVED"


def _file_meta(ds: Dataset) -> None:
    """New file meta information (the dataset's UIDs, rtplan's implementation)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    old = getattr(ds, "file_meta", None)
    if old is None and "SOPInstanceUID" not in ds:
        return
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "")
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
    syntax = None if old is None else old.get("TransferSyntaxUID")
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.preamble = b"\0" * 128


# ---------------------------------------------------------------------------- folders
@dataclass(frozen=True, kw_only=True, slots=True)
class DeidentificationResult:
    """What :func:`deidentify` wrote and left out.

    Parameters
    ----------
    folder : Path
        The output folder.
    files : tuple of Path
        The de-identified files written.
    skipped : tuple of (Path, str)
        Input files not copied, each with the reason (not DICOM, burned-in annotation,
        unreadable, a DICOMDIR).
    deidentifier : Deidentifier
        The options and the salt used; give it to the writers (``deidentify=``) or to a
        later :func:`deidentify` to extend the same de-identified set.
    """

    folder: Path
    files: tuple[Path, ...]
    skipped: tuple[tuple[Path, str], ...]
    deidentifier: Deidentifier = field(repr=False)


def _inputs(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    from rtplan._atomic import is_temporary

    return sorted(
        p
        for p in source.rglob("*")
        if p.is_file() and not any(is_temporary(part) for part in p.relative_to(source).parts)
    )


def _check_folders(source: Path, out: Path) -> None:
    from rtplan._atomic import is_temporary

    if not source.exists():
        raise DicomReadError(f"{source}: no such file or folder; give the DICOM files to copy")
    if out.exists() and not out.is_dir():
        raise RtplanError(f"{out} is a file; give a folder for the de-identified copies")
    src = source.resolve()
    dst = out.resolve()
    if dst == src or (source.is_dir() and dst.is_relative_to(src)):
        raise RtplanError(
            f"{out} lies inside the input {source}: the de-identified copies would mix with "
            "the originals; give a folder outside it"
        )
    if out.is_dir() and any(not is_temporary(p) for p in out.iterdir()):
        raise RtplanError(
            f"{out} is not empty: de-identified copies of one run go into a new or empty "
            "folder (files of different runs do not reference each other)"
        )


def _header(path: Path) -> tuple[Dataset | None, str]:
    """The header of a file and, when it is not to be copied, why."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        return None, "not a DICOM file"
    except (OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        return None, f"unreadable DICOM ({type(exc).__name__}: {exc})"
    if "SOPInstanceUID" not in ds or "SOPClassUID" not in ds:
        meta = getattr(ds, "file_meta", None)
        if meta is not None and meta.get("MediaStorageSOPClassUID") == "1.2.840.10008.1.3.10":
            return None, "a DICOMDIR (a file-set index that names the original files)"
        return None, "no SOP Class or SOP Instance UID (not a composite object)"
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        return None, (
            "its pixels show burned-in annotation (Burned In Annotation YES), which the "
            "basic profile does not clean"
        )
    return ds, ""


def _modality(ds: Dataset) -> str:
    text = re.sub(r"[^A-Z0-9]", "", str(ds.get("Modality", "") or "").upper())[:16]
    return text or "DICOM"


def deidentify(
    source: str | Path,
    out_folder: str | Path,
    *,
    salt: str | None = None,
    retain_patient_characteristics: bool = False,
    deidentifier: Deidentifier | None = None,
) -> DeidentificationResult:
    """Copy DICOM files into a new folder, de-identified (PS3.15 Basic Profile).

    See the module description (:mod:`rtplan.io.deidentify`) for what is removed,
    replaced and kept. The UIDs of all the files of the run are replaced consistently, so
    the copies reference one another as the originals did.

    Parameters
    ----------
    source : str or Path
        A DICOM file, or a folder (searched recursively; files that are not DICOM are
        left out).
    out_folder : str or Path
        A new or empty folder, outside ``source``. The copies are named
        ``<MODALITY>.<SOP Instance UID>.dcm`` and written as one set: all or nothing.
    salt : str, optional
        The secret key of the UID and Patient ID replacements; random by default (see
        :class:`Deidentifier`).
    retain_patient_characteristics : bool
        Keep sex, age, size, weight (Retain Patient Characteristics Option, DCM 113108).
    deidentifier : Deidentifier, optional
        The options and salt to use (instead of ``salt`` and
        ``retain_patient_characteristics``), e.g. the one of an earlier run.

    Returns
    -------
    DeidentificationResult
        The files written, those skipped (with a warning each, besides non-DICOM files)
        and the :class:`Deidentifier` used.

    Raises
    ------
    DicomReadError
        If ``source`` does not exist or holds no DICOM object to copy.
    RtplanError
        If ``out_folder`` is a file, is not empty, or lies inside ``source``.
    DicomWriteError
        If a copy cannot be written (nothing is then left in ``out_folder``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import rtplan
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     done = rtplan.io.deidentify(rtplan.data.get_path("thigh_sarcoma"), Path(tmp, "anon"))
    ...     study = rtplan.load_study(done.folder)
    ...     len(done.files), study.ct.series.patient["PatientName"], len(study.structures)
    (41, 'ANONYMOUS', 11)
    """
    from rtplan.io._writer import save_dataset

    src, out = Path(source), Path(out_folder)
    _check_folders(src, out)
    deid = deidentifier or Deidentifier(
        salt=salt or secrets.token_hex(16),
        retain_patient_characteristics=retain_patient_characteristics,
    )
    keep: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    identifiers: list[str] = []
    for path in _inputs(src):
        header, reason = _header(path)
        if header is None:
            skipped.append((path, reason))
            if reason != "not a DICOM file":
                warn(f"{path}: not de-identified: {reason}", RtplanWarning)
            continue
        keep.append(path)
        identifiers.extend(identifying_values(header))
    if not keep:
        raise DicomReadError(f"{src}: no DICOM object to de-identify")
    return _write_all(keep, out, deid, identifiers, skipped, save_dataset)


def _write_all(
    keep: list[Path],
    out: Path,
    deid: Deidentifier,
    identifiers: list[str],
    skipped: list[tuple[Path, str]],
    save: Callable[..., Path],
) -> DeidentificationResult:
    import pydicom

    from rtplan._atomic import atomic_folder

    needles = sorted(set(identifiers))
    names: list[str] = []
    with atomic_folder(out) as stage:
        for path in keep:
            try:
                ds = pydicom.dcmread(path)
            except (OSError, ValueError, EOFError, KeyError, TypeError) as exc:
                raise DicomReadError(
                    f"{path}: cannot be read for de-identification: {exc}"
                ) from exc
            deid.apply(ds, identifiers=needles)
            name = f"{_modality(ds)}.{ds.SOPInstanceUID}.dcm"
            save(ds, stage.path / name)
            names.append(name)
    logger.info("de-identified %d files into %s", len(names), out)
    return DeidentificationResult(
        folder=out,
        files=tuple(out / n for n in dict.fromkeys(names)),
        skipped=tuple(skipped),
        deidentifier=deid,
    )
