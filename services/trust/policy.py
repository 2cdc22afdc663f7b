"""The trust policy: a versioned points scorecard read from a TOML file.

The project ships its policies in `services/trust/policies/<version>.toml`; an operator
overrides the active one with `SELLERVERIFY_TRUST_POLICY_FILE` (and may keep older
versions loadable with `SELLERVERIFY_TRUST_POLICY_DIRS`). Every stored score names the
version it was computed with, so `PolicySet.get(version)` can re-score stored inputs
exactly as they were scored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

from services.core.errors import DomainError, ErrorKind
from services.core.reasons import Reason

DECISIONS = ("ALLOW", "REVIEW", "DENY")
BANDS = ("low", "medium", "high", "very_high")
SOURCES = ("verification_age", "decayed_sum", "window_sum", "latest", "cluster_size")
# Worst first: combining decisions keeps the worst one.
DECISION_RANK = {"ALLOW": 0, "REVIEW": 1, "DENY": 2}


class PolicyError(ValueError):
    """A policy file that cannot be used (says which file and what is wrong)."""


@dataclass(frozen=True)
class Bin:
    """One bin of a characteristic: a category name or an inclusive upper bound."""

    label: str
    points: float
    upto: float | None = None
    code: str | None = None
    action: str | None = None


@dataclass(frozen=True)
class Characteristic:
    """One scorecard line: how a fact maps to points."""

    name: str
    kind: str  # "category" | "number"
    code: str
    bins: tuple[Bin, ...]
    source: str | None = None
    signal: str | None = None
    half_life_days: float | None = None
    window_days: float | None = None
    missing_bin: int | None = None

    @cached_property
    def reference_points(self) -> float:
        """Points of the best bin (the reference profile)."""
        return max(b.points for b in self.bins)

    def category(self, label: str) -> Bin:
        for b in self.bins:
            if b.label == label:
                return b
        raise KeyError(f"{self.name}: no bin {label!r}")

    def number(self, value: float | None) -> Bin:
        """The bin of a numeric value (`missing_bin` when there is none)."""
        if value is None:
            if self.missing_bin is None:
                raise KeyError(f"{self.name}: no value and no missing_bin")
            return self.bins[self.missing_bin]
        for b in self.bins:
            if b.upto is None or value <= b.upto:
                return b
        return self.bins[-1]


@dataclass(frozen=True)
class KnockOutRule:
    """A rule that forces a decision whatever the sum."""

    name: str
    code: str
    decision: str
    reasons: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Policy:
    """One version of the scorecard."""

    version: str
    bands: dict[str, float]
    decisions: dict[str, str]
    characteristics: tuple[Characteristic, ...]
    knock_outs: dict[str, KnockOutRule]
    required_roles: tuple[str, ...]
    actions: dict[str, str]
    source: str = ""

    def band(self, score: float) -> str:
        for name in ("low", "medium", "high"):
            if score >= self.bands[name]:
                return name
        return "very_high"

    def characteristic(self, name: str) -> Characteristic:
        for c in self.characteristics:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def signal_names(self) -> frozenset[str]:
        """Platform signal names some characteristic reads."""
        return frozenset(c.signal for c in self.characteristics if c.signal)


def _label(upto: float | None, prev: float | None) -> str:
    if upto is None:
        return f">{prev:g}" if prev is not None else "any"
    return f"<={upto:g}"


def parse(data: dict[str, Any], source: str = "") -> Policy:
    """A Policy from a parsed TOML document; PolicyError says what is wrong."""

    def need(d: dict[str, Any], key: str, where: str) -> Any:
        if key not in d:
            raise PolicyError(f"{source}: {where} needs `{key}`")
        return d[key]

    version = str(need(data, "version", "the policy"))
    bands = {k: float(need(data.get("bands", {}), k, "[bands]")) for k in ("low", "medium", "high")}
    if not bands["low"] > bands["medium"] > bands["high"]:
        raise PolicyError(f"{source}: [bands] must satisfy low > medium > high")
    decisions = {k: str(need(data.get("decisions", {}), k, "[decisions]")) for k in BANDS}
    codes = set(Reason.__members__)
    chars: list[Characteristic] = []
    for raw in need(data, "characteristic", "the policy"):
        name = need(raw, "name", "[[characteristic]]")
        kind = need(raw, "kind", f"characteristic {name}")
        code = need(raw, "code", f"characteristic {name}")
        bins: list[Bin] = []
        prev: float | None = None
        for rb in need(raw, "bins", f"characteristic {name}"):
            upto = rb.get("upto")
            label = rb.get("bin") or _label(upto, prev)
            bins.append(
                Bin(label, float(rb["points"]), None if upto is None else float(upto), rb.get("code"), rb.get("action"))
            )
            if upto is not None:
                prev = float(upto)
        c = Characteristic(
            name=name,
            kind=kind,
            code=code,
            bins=tuple(bins),
            source=raw.get("source"),
            signal=raw.get("signal"),
            half_life_days=raw.get("half_life_days"),
            window_days=raw.get("window_days"),
            missing_bin=raw.get("missing_bin"),
        )
        if kind not in ("category", "number"):
            raise PolicyError(f"{source}: characteristic {name}: kind must be category or number")
        if kind == "number" and c.source not in SOURCES:
            raise PolicyError(f"{source}: characteristic {name}: source must be one of {', '.join(SOURCES)}")
        for b in bins:
            for cd in (b.code, code):
                if cd is not None and cd not in codes:
                    raise PolicyError(f"{source}: characteristic {name}: unknown reason code {cd}")
        monotone = raw.get("monotone")
        if kind == "number" and monotone:
            ordered = [b.points for i, b in enumerate(bins) if i != c.missing_bin]
            ok = all(a >= b for a, b in pairwise(ordered))
            if monotone == "increasing":
                ok = all(a <= b for a, b in pairwise(ordered))
            if not ok:
                raise PolicyError(f"{source}: characteristic {name}: points are not {monotone} over its bins")
        chars.append(c)
    knock_outs: dict[str, KnockOutRule] = {}
    for raw in data.get("knock_out", []):
        rule = KnockOutRule(
            name=need(raw, "name", "[[knock_out]]"),
            code=need(raw, "code", "[[knock_out]]"),
            decision=need(raw, "decision", "[[knock_out]]"),
            reasons=frozenset(raw.get("reasons", [])),
        )
        if rule.decision not in ("REVIEW", "DENY") or rule.code not in codes:
            raise PolicyError(f"{source}: knock-out {rule.name}: decision REVIEW|DENY and a known reason code")
        knock_outs[rule.name] = rule
    for d in decisions.values():
        if d not in DECISIONS:
            raise PolicyError(f"{source}: [decisions] values must be one of {DECISIONS}")
    return Policy(
        version=version,
        bands=bands,
        decisions=decisions,
        characteristics=tuple(chars),
        knock_outs=knock_outs,
        required_roles=tuple(data.get("enterprise", {}).get("required_roles", ["legal_representative"])),
        actions=dict(data.get("actions", {})),
        source=source,
    )


def load_file(path: Path) -> Policy:
    """Read one policy file."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise PolicyError(f"{path}: {err}") from None
    return parse(data, str(path))


def shipped() -> list[Policy]:
    """Every policy shipped inside the package."""
    folder = resources.files("services.trust") / "policies"
    out = []
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            out.append(parse(tomllib.loads(item.read_text()), f"services/trust/policies/{item.name}"))
    return out


@dataclass
class PolicySet:
    """The active policy and every other known version (for re-scoring stored inputs)."""

    active: Policy
    versions: dict[str, Policy] = field(default_factory=dict)

    @classmethod
    def load(cls, override: Path | None = None, extra_dirs: list[Path] | None = None) -> PolicySet:
        """Shipped policies, plus `extra_dirs`' files; the active one is `override`, else the newest shipped."""
        known = {p.version: p for p in shipped()}
        for folder in extra_dirs or []:
            for path in sorted(folder.glob("*.toml")):
                p = load_file(path)
                known[p.version] = p
        if override is not None:
            active = load_file(override)
            if active.version in known and known[active.version] != active:
                shipped_one = known[active.version]
                if shipped_one.characteristics != active.characteristics or shipped_one.bands != active.bands:
                    raise PolicyError(
                        f"{override}: version {active.version} is already used by {shipped_one.source} with other "
                        "rules; give your policy its own version"
                    )
            known[active.version] = active
        else:
            active = known[max(known)]
        return cls(active, known)

    def get(self, version: str) -> Policy:
        """The policy of a stored score, or POLICY_VERSION_UNKNOWN."""
        policy = self.versions.get(version)
        if policy is None:
            raise DomainError(
                Reason.POLICY_VERSION_UNKNOWN,
                f"trust policy version {version!r} is not installed here (known: {', '.join(sorted(self.versions))}); "
                "add its file to SELLERVERIFY_TRUST_POLICY_DIRS",
                ErrorKind.PRECONDITION,
            )
        return policy
