"""The image library: thousands of studies indexed, compared and studied.

A library is one DuckDB file (:func:`index` builds and updates it) that records, for
every study of a folder tree, its patient's age, sex and size under de-identified keys,
the CT grid, the structures, plans and doses, tissue and target features with their
units, OVH and DVH tables, and why anything could not be read. On it:

* comparable cases (:func:`similar`) and knowledge-based planning goals
  (:func:`predict_goals`, after Wu et al. 2009);
* population statistics by sex and age band (:func:`population_stats`), with an HTML
  report (:func:`write_population_report`);
* SQL and exports (:class:`Library`: :meth:`Library.query`, :meth:`Library.features`,
  :meth:`Library.export_parquet`).

Features are a registry (:func:`feature`, :func:`register_feature`; plugins in the
entry-point group ``rtplan.library_features``). Indexing runs serially or on Dask (a local
cluster with ``workers=``, or a running scheduler). :func:`synthetic_library` writes a
library of varied synthetic studies to try it on.

Heavy and optional dependencies (duckdb, pyarrow, distributed: ``pip install
'rtplan[library]'``) are imported when used.

>>> from rtplan import library
>>> library.available_features()[:2], library.SCHEMA_VERSION
(['target', 'tissue'], 2)
"""

from __future__ import annotations

from rtplan.library._errors import LibraryError, LibraryLockedError, SchemaVersionError
from rtplan.library._extract import DEFAULT_GOALS, PERCENTS
from rtplan.library._features import (
    FEATURE_GROUP,
    StudyContext,
    available_features,
    feature,
    register_feature,
    unregister_feature,
)
from rtplan.library._index import IndexSummary, Progress, index
from rtplan.library._query import Library, open_library
from rtplan.library._schema import SCHEMA_VERSION
from rtplan.library._similar import (
    SIMILARITY_WEIGHTS,
    CaseDescriptor,
    Driver,
    KnowledgeBasedGoals,
    OrganPrediction,
    SimilarCase,
    predict_goals,
    similar,
)
from rtplan.library._stats import (
    AGE_BANDS,
    DEFAULT_STATS_FEATURES,
    GROUPINGS,
    PopulationStats,
    population_stats,
    write_population_png,
    write_population_report,
)
from rtplan.library._synthetic import SITES, SyntheticStudy, synthetic_library

__all__ = [
    "AGE_BANDS",
    "DEFAULT_GOALS",
    "DEFAULT_STATS_FEATURES",
    "FEATURE_GROUP",
    "GROUPINGS",
    "PERCENTS",
    "SCHEMA_VERSION",
    "SIMILARITY_WEIGHTS",
    "SITES",
    "CaseDescriptor",
    "Driver",
    "IndexSummary",
    "KnowledgeBasedGoals",
    "Library",
    "LibraryError",
    "LibraryLockedError",
    "OrganPrediction",
    "PopulationStats",
    "Progress",
    "SchemaVersionError",
    "SimilarCase",
    "StudyContext",
    "SyntheticStudy",
    "available_features",
    "feature",
    "index",
    "open_library",
    "population_stats",
    "predict_goals",
    "register_feature",
    "similar",
    "synthetic_library",
    "unregister_feature",
    "write_population_png",
    "write_population_report",
]

__import__("rtplan._public", fromlist=["publish"]).publish(__name__, __all__)
