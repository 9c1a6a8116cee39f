"""The Attention tab's backend: the routes of docs/http-api.md over TensorBoard's data provider.

Every route validates its query string (400 with {"error": ...} on a missing or malformed parameter,
or when TensorBoard's loader cannot serve the data, e.g. RustBoard and a run directory named with `"`),
answers 404 for anything that does not exist or cannot be decoded, and reads only through
`context.data_provider` (or the fixed static directory), so no request can touch other files.
"""

import functools
import logging
import re

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from ..format.metadata import PLUGIN_NAME, TooLarge
from ..analysis import head_types
from . import http_payload
from . import static
from .answers import Series, similarity_answer
from .pooling import MAX_POOL
from .data import AttentionData, Unavailable, Unservable

logger = logging.getLogger(__name__)

_INT = re.compile(r"^-?[0-9]{1,19}$")
_INT64 = (-(1 << 63), (1 << 63) - 1)
_MAX_PARAM = 4096
_PLUGIN_PREFIX = f"/data/plugin/{PLUGIN_NAME}/"
_PARTS = (None, "summary", "summary_means")  # the snapshot route's parts (docs/http-api.md)


class BadRequest(Exception):
    """A missing or malformed query parameter (HTTP 400)."""


def _param(request, name, required=True):
    value = request.args.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"missing query parameter {name!r}")
        return None
    if len(value) > _MAX_PARAM:
        raise BadRequest(f"query parameter {name!r} is too long")
    return value


def _int_param(request, name, required=True, minimum=None):
    value = _param(request, name, required)
    if value is None:
        return None
    if not _INT.match(value) or not _INT64[0] <= int(value) <= _INT64[1]:
        raise BadRequest(f"query parameter {name!r} must be an integer, got {value[:40]!r}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise BadRequest(f"query parameter {name!r} must be >= {minimum}, got {number}")
    return number


def _series(request, default_kind=None):
    """The Series (run, probe, kind) a request names; `kind` may be left out where there is a default."""
    run, probe = _param(request, "run"), _param(request, "probe")
    kind = _param(request, "kind", required=default_kind is None) or default_kind
    return Series(run, probe, kind)


def _route(handler):
    """Turns exceptions into JSON answers: 400 bad input, 404 unknown/undecodable, 500 (logged) bugs."""

    @functools.wraps(handler)
    @wrappers.Request.application
    def app(self, request):
        try:
            return handler(self, request)
        except (BadRequest, Unservable, TooLarge) as e:
            return http_payload.error_response(400, str(e))
        except (Unavailable, errors.NotFoundError) as e:
            return http_payload.error_response(404, str(e))
        except errors.PublicError as e:
            return http_payload.error_response(e.http_code, str(e))
        except Exception as e:  # a bug: say so in JSON, keep the trace in TensorBoard's log
            logger.exception("tb-attention: %s failed", request.full_path)
            return http_payload.error_response(500, f"internal error in the attention plugin: {type(e).__name__}")

    return app


class AttentionPlugin(base_plugin.TBPlugin):
    """Serves attention snapshots, per-head statistics and the run's scalars to the Attention tab."""

    plugin_name = PLUGIN_NAME

    def __init__(self, context, static_dir=static.STATIC_DIR, read_files=None):
        """read_files: whether to read the runs' event files (server/files.py); None = when the
        log directory can be read (server/entry.py decides from TensorBoard's flags)."""
        self._data = AttentionData(
            context.data_provider, logdir=getattr(context, "logdir", None), read_files=read_files
        )
        self._static_dir = static_dir

    def get_plugin_apps(self):
        return {
            "/index": self._serve_index,
            "/snapshot": self._serve_snapshot,
            "/stats": self._serve_stats,
            "/relations": self._serve_relations,
            "/similarity": self._serve_similarity,
            "/predictions": self._serve_predictions,
            "/neurons": self._serve_neurons,
            "/contributions": self._serve_contributions,
            "/scalars": self._serve_scalars,
            "/index.js": self._serve_static,
            "/*": self._serve_static,
        }

    def is_active(self):
        return False  # TensorBoard activates the tab from data_plugin_names() and the provider

    def data_plugin_names(self):
        return (PLUGIN_NAME,)

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Attention")

    @staticmethod
    def _ids(request):
        return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)

    def _source(self, request, run):
        """The source of this request's run (server/data.py): 404 for a run TensorBoard does not list."""
        return self._data.source_for(*self._ids(request), run)

    @_route
    def _serve_index(self, request):
        ctx, eid = self._ids(request)
        return http_payload.json_response(self._data.index(ctx, eid))

    @_route
    def _serve_snapshot(self, request):
        series = _series(request)
        step = _int_param(request, "step")
        layer = _int_param(request, "layer", required=False, minimum=0)
        head = _int_param(request, "head", required=False, minimum=0)
        if head is not None and layer is None:
            raise BadRequest("query parameter 'head' needs 'layer' (the head of which layer)")
        pool = _int_param(request, "pool", required=False, minimum=1)
        if pool is not None and pool > MAX_POOL:
            raise BadRequest(f"query parameter 'pool' must be <= {MAX_POOL}, got {pool}")
        part = _param(request, "part", required=False)
        if part not in _PARTS or (part and (pool is not None or (head is None) != (part == "summary_means"))):
            raise BadRequest(
                "query parameter 'part' may only be 'summary' (with 'layer' and 'head') or 'summary_means' "
                "(without 'head'), never with 'pool'"
            )
        header, array = self._source(request, series.run).snapshot(series, step, layer, pool, head, part)
        return http_payload.binary_response(header, array)

    @_route
    def _serve_stats(self, request):
        series = _series(request)
        header, array = self._source(request, series.run).stats(series)
        # Keyed by statistic (docs/http-api.md): the level at which a head gets the type of that stat.
        header["thresholds"] = {t["stat"]: t["threshold"] for t in head_types.thresholds().values()}
        return http_payload.binary_response(header, array)

    @_route
    def _serve_predictions(self, request):
        series = _series(request, default_kind="self")
        return http_payload.json_response(self._source(request, series.run).predictions(series))

    @_route
    def _serve_neurons(self, request):
        series = _series(request)
        step = _int_param(request, "step")
        layer, head = (_int_param(request, n, minimum=0) for n in ("layer", "head"))
        header, array = self._source(request, series.run).neurons(series, step, layer, head)
        return http_payload.binary_response(header, array)

    @_route
    def _serve_contributions(self, request):
        series = _series(request)
        return http_payload.json_response(self._source(request, series.run).contributions(series))

    @_route
    def _serve_similarity(self, request):
        series = _series(request)
        step = _int_param(request, "step")
        # How alike the heads of each layer attend at a step (statistics.head_distances), from the
        # snapshot as stored.
        header, array = similarity_answer(*self._source(request, series.run).snapshot(series, step))
        return http_payload.binary_response(header, array)

    @_route
    def _serve_relations(self, request):
        run = _param(request, "run")
        header, array = self._source(request, run).relations(run)
        return http_payload.binary_response(header, array)

    @_route
    def _serve_scalars(self, request):
        run = _param(request, "run")
        ctx, eid = self._ids(request)
        tags, marks = self._data.scalars(ctx, eid, run)
        return http_payload.json_response({"run": run, "tags": tags, "marks": marks})

    @_route
    def _serve_static(self, request):
        path = request.path
        relative = path[path.find(_PLUGIN_PREFIX) + len(_PLUGIN_PREFIX) :] if _PLUGIN_PREFIX in path else ""
        found = static.read(relative, self._static_dir)
        if found is None:
            raise Unavailable(f"no such file of the attention plugin: {relative[:80]!r}")
        body, content_type = found
        return http_util.Respond(request, body, content_type)
