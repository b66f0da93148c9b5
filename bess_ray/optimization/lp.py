"""A linear program assembled from whole numpy arrays, solved by HiGHS through `passModel`.

Blocks add named variable groups (`add_vars`) and named row groups (`add_rows`) in one call each;
nothing here loops over time steps in Python. Every row group carries a *family* (soc_dynamics,
poi, reserve_power, ...) so that an infeasible problem can be explained in those words.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INF = np.inf


@dataclass(frozen=True)
class CscMatrix:
    """Compressed sparse columns, the layout HiGHS takes. Built with numpy alone: importing
    scipy.sparse would cost 20 MB and 0.1 s of every cold start for one conversion."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return int(self.data.size)

    @classmethod
    def from_coo(cls, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> "CscMatrix":
        n_row, n_col = shape
        key = cols.astype(np.int64) * n_row + rows
        order = np.argsort(key)
        key, vals = key[order], vals[order]
        first = np.r_[True, key[1:] != key[:-1]] if key.size else np.zeros(0, bool)
        vals = np.add.reduceat(vals, np.flatnonzero(first)) if key.size else vals  # sum duplicates
        key = key[first]
        keep = vals != 0
        key, vals = key[keep], vals[keep]
        indptr = np.zeros(n_col + 1, dtype=np.int32)
        np.cumsum(np.bincount(key // n_row, minlength=n_col), out=indptr[1:])
        return cls(indptr, (key % n_row).astype(np.int32), vals, shape)

    def with_columns(self, other: "CscMatrix") -> "CscMatrix":
        """[self, other]: more columns over the same rows."""
        return CscMatrix(np.r_[self.indptr, self.indptr[-1] + other.indptr[1:]].astype(np.int32),
                         np.r_[self.indices, other.indices], np.r_[self.data, other.data],
                         (self.shape[0], self.shape[1] + other.shape[1]))

    def row_lists(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR view (indptr, column indices, values) for row-wise rendering (Pyomo bridge)."""
        rows = self.indices
        cols = np.repeat(np.arange(self.shape[1]), np.diff(self.indptr))
        order = np.argsort(rows, kind="stable")
        indptr = np.zeros(self.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.shape[0]), out=indptr[1:])
        return indptr, cols[order], self.data[order]


def _flat(value, shape: tuple[int, ...]) -> np.ndarray:
    """`value` (scalar or broadcastable array) as a flat float array of `shape`'s size."""
    if isinstance(value, (int, float)):
        return np.full(math.prod(shape), float(value))
    arr = np.asarray(value, dtype=float)
    return arr.reshape(-1) if arr.shape == shape else np.broadcast_to(arr, shape).reshape(-1)


@dataclass(frozen=True)
class VarGroup:
    name: str
    offset: int
    shape: tuple[int, ...]
    axes: tuple[str, ...]  # names of the index axes, for the Pyomo bridge and results
    integer: bool = False

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def cols(self) -> np.ndarray:
        return self.offset + np.arange(self.size).reshape(self.shape)


@dataclass(frozen=True)
class RowGroup:
    name: str
    family: str
    offset: int
    size: int
    t: np.ndarray | None = None  # the interval of each row, when the group covers only some
    axes: tuple[str, ...] = ()  # names of the index axes (e.g. ('asset', 't')), for the Pyomo bridge
    shape: tuple[int, ...] = ()




class LinearProgram:
    """min c'x  s.t.  row_lo <= A x <= row_hi,  col_lo <= x <= col_hi."""

    def __init__(self) -> None:
        self.var_groups: dict[str, VarGroup] = {}
        self.row_groups: dict[str, RowGroup] = {}
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self._cost: list[np.ndarray] = []
        self._row_lo: list[np.ndarray] = []
        self._row_hi: list[np.ndarray] = []
        self._coo: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.num_col = 0
        self.num_row = 0
        self.objective_offset = 0.0
        self._extra_cost: list[tuple[np.ndarray, np.ndarray]] = []
        self._tie_break: list[tuple[np.ndarray, np.ndarray]] = []

    # ----------------------------------------------------------------------------- building
    def add_vars(self, name: str, shape: tuple[int, ...], axes: tuple[str, ...], lo=0.0, hi=INF,
                 cost=0.0, integer: bool = False) -> np.ndarray:
        """Add a variable group; returns its column indices shaped like `shape`."""
        shape = tuple(shape)
        group = VarGroup(name, self.num_col, shape, tuple(axes), integer)
        n = group.size
        self._lo.append(_flat(lo, shape))
        self._hi.append(_flat(hi, shape))
        self._cost.append(_flat(cost, shape))
        self.var_groups[name] = group
        self.num_col += n
        return group.cols()

    def add_cost(self, cols: np.ndarray, values) -> None:
        """Add to the objective coefficients of existing columns (summed on assembly)."""
        cols = np.asarray(cols)
        self._extra_cost.append((cols.ravel(), _flat(values, cols.shape)))

    def add_tie_break(self, cols: np.ndarray, values) -> None:
        """Add a preference among equally good plans: part of the objective HiGHS minimises, but not
        money, so `AssembledLP.money` leaves it out of the reported objective."""
        cols = np.asarray(cols)
        self._tie_break.append((cols.ravel(), _flat(values, cols.shape)))

    def tie_break_of(self, x: np.ndarray) -> float:
        """What the tie-break adds to the objective at solution `x` (not money)."""
        return float(self._summed(self._tie_break) @ x)

    def add_rows(self, name: str, family: str, n: int, terms, lo=-INF, hi=INF, t: np.ndarray | None = None,
                 axes: tuple[str, ...] = (), shape: tuple[int, ...] = ()) -> int:
        """Add `n` rows: sum over terms of coef * x[col], term = (row_index, col, coef) arrays.

        `row_index` in 0..n-1 says which new row each entry belongs to; pass None for 'entry i
        goes to row i'. `t` names each row's interval when the rows cover only some (an
        infeasibility then says when). `axes` and `shape` label the rows in C order (('asset', 't'),
        (A, T): row a * T + t), so the Pyomo bridge indexes them `m.name[asset, t]`. Returns the
        offset of the first new row.
        """
        if axes and math.prod(shape) != n:
            raise ValueError(f"rows {name}: shape {shape} does not hold {n} rows")
        offset = self.num_row
        for row_index, cols, coefs in terms:
            cols = np.asarray(cols)
            vals = _flat(coefs, cols.shape)
            cols = cols.ravel()
            rows = np.arange(cols.size) if row_index is None else np.asarray(row_index).ravel()
            self._coo.append((rows + offset, cols, vals))
        self._row_lo.append(_flat(lo, (n,)))
        self._row_hi.append(_flat(hi, (n,)))
        self.row_groups[name] = RowGroup(name, family, offset, n, None if t is None else np.asarray(t),
                                         tuple(axes), tuple(shape))
        self.num_row += n
        return offset

    # ----------------------------------------------------------------------------- assembly
    def _summed(self, parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Per-column sums of (columns, values) parts; bincount is far faster than np.add.at."""
        if not parts:
            return np.zeros(self.num_col)
        cols = np.concatenate([c for c, _ in parts])
        return np.bincount(cols, weights=np.concatenate([v for _, v in parts]), minlength=self.num_col)

    def assemble(self) -> "AssembledLP":
        tie_break = self._summed(self._tie_break)
        cost = (np.concatenate(self._cost) if self._cost else np.zeros(0)) + self._summed(self._extra_cost) + tie_break
        if self._coo:
            rows = np.concatenate([r for r, _, _ in self._coo])
            cols = np.concatenate([c for _, c, _ in self._coo])
            vals = np.concatenate([v for _, _, v in self._coo])
        else:
            rows = cols = np.zeros(0, dtype=np.int64)
            vals = np.zeros(0)
        a = CscMatrix.from_coo(rows, cols, vals, (self.num_row, self.num_col))
        integrality = np.zeros(self.num_col, dtype=np.uint8)
        for g in self.var_groups.values():
            if g.integer:
                integrality[g.offset:g.offset + g.size] = 1
        return AssembledLP(
            cost=cost, col_lo=np.concatenate(self._lo), col_hi=np.concatenate(self._hi),
            row_lo=np.concatenate(self._row_lo) if self._row_lo else np.zeros(0),
            row_hi=np.concatenate(self._row_hi) if self._row_hi else np.zeros(0),
            a=a, integrality=integrality, var_groups=dict(self.var_groups),
            row_groups=dict(self.row_groups), objective_offset=self.objective_offset, tie_break=tie_break,
        )


@dataclass
class AssembledLP:
    cost: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    a: CscMatrix
    integrality: np.ndarray
    var_groups: dict[str, VarGroup]
    row_groups: dict[str, RowGroup]
    objective_offset: float = 0.0
    tie_break: np.ndarray | None = None  # the part of `cost` that only picks among equally good plans

    def family_of_rows(self) -> np.ndarray:
        fam = np.empty(self.a.shape[0], dtype=object)
        for g in self.row_groups.values():
            fam[g.offset:g.offset + g.size] = g.family
        return fam
