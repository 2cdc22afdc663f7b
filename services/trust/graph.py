"""The face <-> ID-number graph across all subjects (dummy storefronts).

Nodes are subjects and ID numbers (keyed hashes). Edges: a subject's own ID number
(subjects and face templates), and face links found by 1:N search (`duplicate.found`
events: the same face under another subject). Connected components, by union-find,
show one face behind several ID numbers and one ID number behind several faces. The
sweep looks at every subject, old and new, in one pass over three tables; components of
more than one subject are stored (identity_clusters) and become the identity_cluster
signal of their members' trust snapshots.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from services.platform.database import Database
from services.platform.models import DomainEventRow, FaceTemplateRow, IdentityClusterRow, SubjectRow, TrustSnapshotRow
from services.platform.records import utcnow
from services.trust import facts as facts_mod
from services.trust.snapshots import TrustProjection

_NS = uuid.UUID("5b1c3f3e-2f7c-4d0a-9a51-0c9f3c1d7e12")
CHUNK = 5000


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int = 0) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def add(self) -> int:
        self.parent.append(len(self.parent))
        self.size.append(1)
        return len(self.parent) - 1

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]


@dataclass
class Component:
    """One cluster of more than one subject."""

    cluster_id: str
    subject_ids: list[str]
    faces: int
    id_numbers: int


@dataclass
class SweepStats:
    """What a sweep saw and found."""

    subjects: int
    clusters: int
    clustered_subjects: int
    duration_ms: float
    components: list[Component] = field(default_factory=list)


def components(
    subject_ids: list[str],
    id_links: list[tuple[str, str]],
    face_links: list[tuple[str, str]],
) -> list[Component]:
    """Components of more than one subject, from (subject, id_hash) and (subject, subject) links."""
    index = {sid: i for i, sid in enumerate(subject_ids)}
    n = len(subject_ids)
    uf = UnionFind(n)
    faces = UnionFind(n)  # subjects joined by face links only: one face each
    hash_node: dict[str, int] = {}
    subject_hashes: dict[int, set[str]] = defaultdict(set)
    for sid, h in id_links:
        i = index.get(sid)
        if i is None:
            continue
        node = hash_node.get(h)
        if node is None:
            node = hash_node[h] = uf.add()
        uf.union(i, node)
        subject_hashes[i].add(h)
    for a, b in face_links:
        i, j = index.get(a), index.get(b)
        if i is None or j is None or i == j:
            continue
        uf.union(i, j)
        faces.union(i, j)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        root = uf.find(i)
        if uf.size[root] > 1:
            groups[root].append(i)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        ids = sorted(subject_ids[i] for i in members)
        hashes = set().union(*(subject_hashes.get(i, set()) for i in members))
        out.append(
            Component(
                cluster_id=str(uuid.uuid5(_NS, ids[0])),
                subject_ids=ids,
                faces=len({faces.find(i) for i in members}),
                id_numbers=len(hashes),
            )
        )
    return out


def load_links(session: Session) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """Every subject id, every (subject, ID-number hash) and every face link."""
    conn = session.connection()
    subject_ids: list[str] = []
    id_links: list[tuple[str, str]] = []
    for sid, h in conn.execute(select(SubjectRow.id, SubjectRow.id_number_hash)).yield_per(CHUNK):
        subject_ids.append(sid)
        if h:
            id_links.append((sid, h))
    q = select(FaceTemplateRow.subject_id, FaceTemplateRow.id_number_hash).where(
        FaceTemplateRow.id_number_hash.is_not(None)
    )
    for sid, h in conn.execute(q).yield_per(CHUNK):
        if h:
            id_links.append((sid, h))
    face_links: list[tuple[str, str]] = []
    q2 = select(DomainEventRow.subject_id, DomainEventRow.payload).where(DomainEventRow.kind == "duplicate.found")
    for sid, payload in conn.execute(q2).yield_per(CHUNK):
        for other in (payload or {}).get("other_subject_ids", []):
            face_links.append((sid, other))
    return subject_ids, id_links, face_links


def sweep(db: Database, trust: TrustProjection) -> SweepStats:
    """Recompute every subject's component; store clusters; update the members' snapshots."""
    started = time.perf_counter()
    with db.read() as session:
        subject_ids, id_links, face_links = load_links(session)
        old = {
            r[0]: (r[1], r[2], r[3], r[4])
            for r in session.execute(
                select(
                    IdentityClusterRow.subject_id,
                    IdentityClusterRow.cluster_id,
                    IdentityClusterRow.subjects,
                    IdentityClusterRow.faces,
                    IdentityClusterRow.id_numbers,
                )
            )
        }
    comps = components(subject_ids, id_links, face_links)
    now = utcnow()
    new: dict[str, tuple[str, int, int, int]] = {}
    for c in comps:
        for sid in c.subject_ids:
            new[sid] = (c.cluster_id, len(c.subject_ids), c.faces, c.id_numbers)
    changed = [sid for sid in set(old) | set(new) if old.get(sid) != new.get(sid)]
    with db.transaction() as session:
        session.execute(delete(IdentityClusterRow))
        rows = [
            {
                "subject_id": sid,
                "cluster_id": v[0],
                "subjects": v[1],
                "faces": v[2],
                "id_numbers": v[3],
                "swept_at": now,
            }
            for sid, v in new.items()
        ]
        for i in range(0, len(rows), CHUNK):
            session.execute(insert(IdentityClusterRow), rows[i : i + CHUNK])
        with session.no_autoflush:  # one flush at commit, not one per subject
            for i in range(0, len(changed), CHUNK):
                part = changed[i : i + CHUNK]
                snaps = {
                    r.target_id: r
                    for r in session.scalars(select(TrustSnapshotRow).where(TrustSnapshotRow.target_id.in_(part)))
                }
                for sid in part:
                    _update_snapshot(session, trust, sid, new.get(sid), now, snaps.get(sid))
    return SweepStats(
        subjects=len(subject_ids),
        clusters=len(comps),
        clustered_subjects=len(new),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        components=comps,
    )


def _update_snapshot(
    session: Session,
    trust: TrustProjection,
    subject_id: str,
    cluster: tuple[str, int, int, int] | None,
    now: datetime,
    row: TrustSnapshotRow | None,
) -> None:
    f: dict[str, Any] | None = dict(row.facts) if row is not None else facts_mod.subject_facts(session, subject_id)
    if f is None:
        return
    f["cluster"] = (
        None
        if cluster is None
        else {"id": cluster[0], "subjects": cluster[1], "faces": cluster[2], "id_numbers": cluster[3]}
    )
    trust.store(session, "subject", subject_id, f, now, row, flush=False)


@dataclass
class ClusterView:
    """A subject's cluster as shown to a rep."""

    cluster_id: str
    subject_ids: list[str]
    faces: int
    id_numbers: int
    links: list[tuple[str, str, str, str]]
    swept_at: datetime | None


def cluster_of(session: Session, subject_id: str) -> ClusterView:
    """The stored cluster of a subject, with its links (a subject alone is its own cluster)."""
    from services.identity.subjects import get_subject

    get_subject(session, subject_id)
    row = session.get(IdentityClusterRow, subject_id)
    if row is None:
        return ClusterView("", [subject_id], 1, 0, [], None)
    members = sorted(
        session.scalars(select(IdentityClusterRow.subject_id).where(IdentityClusterRow.cluster_id == row.cluster_id))
    )
    links: list[tuple[str, str, str, str]] = []
    by_hash: dict[str, list[str]] = defaultdict(list)
    for sid, h in session.execute(select(SubjectRow.id, SubjectRow.id_number_hash).where(SubjectRow.id.in_(members))):
        if h:
            by_hash[h].append(sid)
    for sid, h in session.execute(
        select(FaceTemplateRow.subject_id, FaceTemplateRow.id_number_hash).where(
            FaceTemplateRow.subject_id.in_(members)
        )
    ):
        if h and sid not in by_hash[h]:
            by_hash[h].append(sid)
    for group in by_hash.values():
        group.sort()
        links += [(group[0], other, "id_number", "") for other in group[1:]]
    member_set = set(members)
    for sid, payload in session.execute(
        select(DomainEventRow.subject_id, DomainEventRow.payload).where(
            DomainEventRow.kind == "duplicate.found", DomainEventRow.subject_id.in_(members)
        )
    ):
        for other in (payload or {}).get("other_subject_ids", []):
            if other in member_set:
                links.append((sid, other, "face", str((payload or {}).get("verification_id", ""))))
    return ClusterView(row.cluster_id, members, row.faces, row.id_numbers, links, row.swept_at)
