"""A stream's requirements and how well an annotator's profile meets them.

Requirements (``Stream.requirements``)::

    {"languages": [{"code": "de", "level": "C1"}], "domains": ["medicine"]}

Profiles (``AnnotatorProfile.languages``) use the same ``{code, level}`` pairs with CEFR levels
A1 < A2 < B1 < B2 < C1 < C2 < native. A language requirement is met by the same language at that
level or above; a domain requirement by the same domain (case-insensitive). Candidates are ranked by
the number of requirements met (all met first), then by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from projects.models import AnnotatorProfile, Membership, Role, Stream, StreamMembership

LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2", "native")
_LANGUAGE = re.compile(r"^([a-z]{2,3}(?:-[a-z0-9]{2,8})?)(?:[\s:]+(a1|a2|b1|b2|c1|c2|native))?$", re.IGNORECASE)


def level_rank(level: str) -> int:
    normalised = level if level == "native" else level.upper()
    return LEVELS.index(normalised) if normalised in LEVELS else -1


def parse_languages(text: str) -> list[dict[str, str]]:
    """``"de C1, en:native"`` → ``[{"code": "de", "level": "C1"}, {"code": "en", "level": "native"}]``.
    A missing level means any level. Raises ``ValueError`` naming the bad entry."""
    result = []
    for part in re.split(r"[,;\n]", text):
        part = part.strip()
        if not part:
            continue
        match = _LANGUAGE.match(part)
        if match is None:
            raise ValueError(f"{part!r}: write a language code and a level, e.g. “de C1” or “en native”")
        level = (match.group(2) or "A1").lower()
        result.append({"code": match.group(1).lower(), "level": "native" if level == "native" else level.upper()})
    return result


def parse_domains(text: str) -> list[str]:
    return sorted({part.strip().lower() for part in re.split(r"[,;\n]", text) if part.strip()})


def format_languages(languages: list[dict[str, str]]) -> str:
    return ", ".join(f"{entry.get('code', '')} {entry.get('level', '')}".strip() for entry in languages or [])


@dataclass
class Match:
    user: Any
    profile: AnnotatorProfile | None
    met: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def meets_all(self) -> bool:
        return not self.missing


def match_profile(profile: AnnotatorProfile | None, requirements: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(requirements met, requirements missing), each as a short label such as ``de ≥ C1``."""
    languages = {
        str(e.get("code", "")).lower(): str(e.get("level", "")) for e in (profile.languages if profile else [])
    }
    domains = {str(d).strip().lower() for d in (profile.domains if profile else [])}
    met: list[str] = []
    missing: list[str] = []
    for required in requirements.get("languages") or []:
        code, level = str(required.get("code", "")).lower(), str(required.get("level", "A1"))
        label = f"{code} ≥ {level}"
        have = languages.get(code)
        (met if have is not None and level_rank(have) >= level_rank(level) else missing).append(label)
    for domain in requirements.get("domains") or []:
        (met if str(domain).lower() in domains else missing).append(str(domain))
    return met, missing


def candidate_pool(*, stream: Stream, viewer: Any) -> QuerySet[Any]:
    """People a PM may invite to ``stream``: members of any project the viewer manages (staff: any
    active account), not already in the stream (a removed member may be invited again)."""
    users = get_user_model().objects.filter(is_active=True)
    if not viewer.is_staff:
        managed = Membership.objects.filter(user=viewer, role=Role.PM).values("project_id")
        users = users.filter(memberships__project_id__in=managed)
    in_stream = StreamMembership.objects.filter(stream=stream).exclude(status=StreamMembership.Status.REMOVED)
    return users.exclude(Q(pk__in=in_stream.values("user_id"))).distinct()


def ranked_candidates(*, stream: Stream, viewer: Any, only_matching: bool = False, limit: int = 200) -> list[Match]:
    """The candidate pool ranked by how many of the stream's requirements each profile meets (all
    met first), then by username; ``only_matching`` keeps those who meet every requirement."""
    requirements = stream.requirements or {}
    users = list(candidate_pool(stream=stream, viewer=viewer).order_by("username")[: limit * 5])
    profiles = {p.user_id: p for p in AnnotatorProfile.objects.filter(user__in=[u.pk for u in users])}
    matches = []
    for user in users:
        profile = profiles.get(user.pk)
        met, missing = match_profile(profile, requirements)
        if only_matching and missing:
            continue
        matches.append(Match(user, profile, met, missing))
    matches.sort(key=lambda m: (bool(m.missing), -len(m.met), m.user.username))
    return matches[:limit]
