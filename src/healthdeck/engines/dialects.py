"""What differs in SQL between DuckDB and the other engines, declared per engine.

The engine writes its queries once: Ibis expressions, and a few hand-written queries in DuckDB's
SQL. For another engine, the Ibis expressions are compiled by Ibis's compiler for it, and the
hand-written SQL is transpiled by SQLGlot. Each engine is here as a pair of small classes of
declarative differences: an Ibis compiler that computes what DuckDB computes where Ibis's own
default differs (an exact, interpolated percentile; fractional epoch seconds), and a SQLGlot
dialect that writes timestamps and query parameters the way the engine and its driver take them.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import ibis.expr.operations as ops
import sqlglot
import sqlglot.expressions as sge
from ibis.backends.sql.compilers import ClickHouseCompiler, PostgresCompiler
from ibis.backends.sql.dialects import ClickHouse as IbisClickHouse
from ibis.backends.sql.dialects import Postgres as IbisPostgres

if TYPE_CHECKING:
    from healthdeck.engines.url import EngineKind

# How the engine writes every instant (measures/parametrize.py finds the window's instants by it):
# the same node on every engine, so one template learner serves them all.
MAKE_TIMESTAMPTZ = "make_timestamptz"
CH_TIMESTAMP = "DateTime64(6, 'UTC')"


def make_timestamptz(value: datetime) -> sge.Anonymous:
    """MAKE_TIMESTAMPTZ(year, month, day, hour, minute, seconds, 'UTC'), as Ibis writes it for DuckDB."""
    seconds = value.second + value.microsecond / 1e6
    args = [value.year, value.month, value.day, value.hour, value.minute, seconds, "UTC"]
    return sge.Anonymous(this=MAKE_TIMESTAMPTZ, expressions=[sge.convert(a) for a in args])


def _utc_literal(compiler: Any, op: Any, value: Any, dtype: Any) -> sge.Expression | None:
    if dtype.is_timestamp() and dtype.timezone == "UTC":
        return make_timestamptz(value)
    return None


class HealthdeckPostgresCompiler(PostgresCompiler):
    """Ibis's PostgreSQL compiler, writing instants as DuckDB's does (PostgreSQL has MAKE_TIMESTAMPTZ)."""

    def visit_NonNullLiteral(self, op: Any, *, value: Any, dtype: Any) -> Any:
        return _utc_literal(self, op, value, dtype) or super().visit_NonNullLiteral(op, value=value, dtype=dtype)

    def json_extract_path_text(self, op: Any, arg: Any, *rest: Any) -> Any:
        # Ibis's call, kept a plain function: SQLGlot would rewrite it into a ->> operator that
        # PostgreSQL cannot parse with VARIADIC (json_extract_path_text(x, VARIADIC ARRAY[]) is x's text).
        b = "b" * op.arg.dtype.binary
        variadic = sge.Var(this="VARIADIC ARRAY[]::TEXT[]")
        return sge.Anonymous(this=f"json{b}_extract_path_text", expressions=[arg, *rest, variadic])


class HealthdeckClickHouseCompiler(ClickHouseCompiler):
    """Ibis's ClickHouse compiler, computing what DuckDB computes where Ibis's defaults differ."""

    # Ibis makes a visit method of each simple op for every subclass: ours would be replaced.
    SIMPLE_OPS = {op: name for op, name in ClickHouseCompiler.SIMPLE_OPS.items() if op is not ops.ExtractEpochSeconds}

    def visit_NonNullLiteral(self, op: Any, *, value: Any, dtype: Any) -> Any:
        return _utc_literal(self, op, value, dtype) or super().visit_NonNullLiteral(op, value=value, dtype=dtype)

    def visit_Quantile(self, op: Any, *, arg: Any, quantile: Any, where: Any) -> Any:
        # Ibis's `quantile` samples (approximate); DuckDB's QUANTILE_CONT interpolates between the
        # two nearest values (type R7), which ClickHouse calls quantileExactInclusive.
        return self._visit_quantile("quantileExactInclusive", arg, quantile, where)

    def visit_ExtractEpochSeconds(self, op: Any, *, arg: Any) -> Any:
        # Ibis's toRelativeSecondNum drops the fraction; DuckDB's EPOCH keeps the microseconds.
        return self.f.toUnixTimestamp64Micro(arg) / 1e6

    def visit_StandardDevVariance(self, op: Any, *, how: str, where: Any, **kw: Any) -> Any:
        # The plain varPop/covarPop lose precision on large values (epoch seconds): the stable ones do not.
        name = {"StandardDev": "stddev", "Variance": "var", "Covariance": "covar"}[type(op).__name__]
        return self.agg[f"{name}{'Samp' if how == 'sample' else 'Pop'}Stable"](*kw.values(), where=where)

    visit_StandardDev = visit_Variance = visit_Covariance = visit_StandardDevVariance

    def visit_JSONGetItem(self, op: Any, *, arg: Any, index: Any) -> Any:
        return self.f.JSONExtractRaw(arg, index)

    def visit_UnwrapJSONString(self, op: Any, *, arg: Any) -> Any:
        return self.if_(self.f.JSONType(arg).eq(sge.convert("String")), self.f.JSONExtractString(arg), sge.null())


class HealthdeckPostgres(IbisPostgres):
    """PostgreSQL as psycopg takes it: %(name)s parameters, each cast to its type (NULL has none)."""

    class Generator(IbisPostgres.Generator):
        def placeholder_sql(self, expression: sge.Placeholder) -> str:
            param = f"%({expression.name})s"
            kind = expression.args.get("kind")
            return f"CAST({param} AS {self.sql(kind)})" if isinstance(kind, sge.DataType) else param

        def literal_sql(self, expression: sge.Literal) -> str:
            # psycopg reads % in the query text as the start of a parameter: a literal one is %%.
            return super().literal_sql(expression).replace("%", "%%")

        def mod_sql(self, expression: sge.Mod) -> str:
            return self.func("MOD", expression.this, expression.expression)


class HealthdeckClickHouse(IbisClickHouse):
    """ClickHouse with UTC microsecond timestamps and typed {name:Type} parameters."""

    class Generator(IbisClickHouse.Generator):
        TYPE_MAPPING = {
            **IbisClickHouse.Generator.TYPE_MAPPING,
            sge.DataType.Type.TIMESTAMPTZ: CH_TIMESTAMP,
            sge.DataType.Type.TIMESTAMP: CH_TIMESTAMP,
        }

        def datatype_sql(self, expression: sge.DataType) -> str:
            # SQLGlot writes TIMESTAMPTZ as DateTime, which keeps whole seconds only.
            if expression.this in (sge.DataType.Type.TIMESTAMPTZ, sge.DataType.Type.TIMESTAMP):
                return f"Nullable({CH_TIMESTAMP})" if expression.args.get("nullable") is not False else CH_TIMESTAMP
            return super().datatype_sql(expression)

        def placeholder_sql(self, expression: sge.Placeholder) -> str:
            kind = expression.args.get("kind")
            if not isinstance(kind, sge.DataType):
                raise ValueError(f"the parameter {expression.name} has no type; ClickHouse needs one")
            return f"{{{expression.name}:{_clickhouse_type(kind)}}}"

        def anonymous_sql(self, expression: sge.Anonymous) -> str:
            if str(expression.this).lower() != MAKE_TIMESTAMPTZ:
                return super().anonymous_sql(expression)
            year, month, day, hour, minute, seconds, _ = (arg.this for arg in expression.expressions)
            whole, micros = divmod(round(float(seconds) * 1_000_000), 1_000_000)
            return f"makeDateTime64({year}, {month}, {day}, {hour}, {minute}, {whole}, {micros}, 6, 'UTC')"


def _clickhouse_type(kind: sge.DataType) -> str:
    if kind.this in (sge.DataType.Type.TIMESTAMPTZ, sge.DataType.Type.TIMESTAMP):
        return f"Nullable({CH_TIMESTAMP})"
    return f"Nullable({kind.sql('clickhouse').removeprefix('Nullable(').removesuffix(')')})"


def value_type(value: Any) -> sge.DataType:
    """The SQL type of a query parameter's value (None is a NULL string: the engine's only NULL parameter)."""
    if isinstance(value, bool):
        return sge.DataType.build("BOOLEAN")
    if isinstance(value, datetime):
        return sge.DataType.build("TIMESTAMPTZ")
    if isinstance(value, int):
        return sge.DataType.build("BIGINT")
    if isinstance(value, float):
        return sge.DataType.build("DOUBLE")
    if isinstance(value, timedelta | list | tuple):
        raise TypeError(f"no portable parameter type for {type(value).__name__}: pass instants and scalars")
    return sge.DataType.build("VARCHAR")


DIALECTS: dict[str, type[sqlglot.Dialect]] = {"postgres": HealthdeckPostgres, "clickhouse": HealthdeckClickHouse}
COMPILERS: dict[str, type[Any]] = {"postgres": HealthdeckPostgresCompiler, "clickhouse": HealthdeckClickHouseCompiler}


@functools.lru_cache(maxsize=4096)
def transpile(sql: str, kind: EngineKind, types: tuple[tuple[str, str], ...]) -> str:
    """DuckDB SQL (the engine's hand-written queries) in `kind`'s SQL, each $parameter typed.

    `types` gives each parameter's type (from its value), which PostgreSQL needs for a NULL and
    ClickHouse for every parameter. Cached: the same few queries run for every evaluation.
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    typed = dict(types)
    for node in tree.find_all(sge.Placeholder):
        if node.name in typed:
            node.set("kind", sge.DataType.build(typed[node.name], dialect="duckdb"))
    return tree.sql(dialect=DIALECTS[kind], unsupported_level=sqlglot.ErrorLevel.RAISE)


def parameter_types(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value_type(value).sql("duckdb")) for name, value in params.items()))
