"""Trading partners: reading ``partners/*.yaml``, applying a partner to the routes that name
it (every problem reported as ``file: dotted.path: message`` like a route's), and the
overview of each partner that ``tradelane partners`` and the console show."""

from __future__ import annotations

import difflib
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from tradelane.spec.partners import PartnerSpec, SequenceSpec
from tradelane.spec.route import RouteSpec
from tradelane.spec.settings import Settings
from tradelane.spec.x12_template import X12Template

if TYPE_CHECKING:
    from tradelane.ledger import Ledger

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_partners(folder: Path, root: Path, settings: Settings | None,
                  problems: list[str]) -> dict[str, PartnerSpec]:
    """Every partner of ``folder`` (none when it does not exist); problems appended."""
    partners: dict[str, PartnerSpec] = {}
    if not folder.is_dir():
        return partners
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        label = _rel(path, root)
        try:
            data: Any = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader) or {}  # noqa: S506
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else "yaml"
            problems.append(f"{label}: {where}: {getattr(exc, 'problem', exc)}")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{label}: cannot read: {exc}")
            continue
        if not isinstance(data, dict):
            problems.append(f"{label}: the file must hold a mapping of options")
            continue
        data.setdefault("name", path.stem)
        try:
            partner = PartnerSpec.model_validate({**data, "spec_path": path})
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "(top)"
                message = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    message = "unknown option"
                problems.append(f"{label}: {loc}: {message}")
            continue
        if partner.name in partners:
            problems.append(f"{label}: name: partner {partner.name!r} is also defined in"
                            f" {_rel(partners[partner.name].spec_path, root)}")
            continue
        _check_partner(partner, label, root, settings, problems)
        partners[partner.name] = partner
    return partners


def _check_partner(partner: PartnerSpec, label: str, root: Path, settings: Settings | None,
                   problems: list[str]) -> None:
    known = sorted(settings.connections) if settings is not None else []
    for i, name in enumerate(partner.transports):
        if name not in known:
            problems.append(f"{label}: transports.{i}: {name!r} is not a connection in"
                            f" tradelane.yaml{did_you_mean(name, known)}")
    for option in ("certificate", "pgp_public_key"):
        value = getattr(partner.keys, option)
        if value and not (root / value).is_file():
            problems.append(f"{label}: keys.{option}: {value} does not exist")


def apply_partner(route: RouteSpec, partners: dict[str, PartnerSpec], label: str,
                  problems: list[str]) -> RouteSpec:
    """The route with its partner's identifiers, owner, expect and ack_within filled in
    where the route gives none; an unknown partner or missing identifiers are problems."""
    edifact, x12 = route.target.edifact, route.target.x12
    if route.partner is None:
        if edifact is not None and not (edifact.sender and edifact.recipient):
            problems.append(f"{label}: target.edifact: give sender and recipient, or name the"
                            " route's partner (partner: NAME, from partners/NAME.yaml)")
        if x12 is not None and not (x12.sender and x12.receiver):
            problems.append(f"{label}: target.x12: give sender and receiver, or name the"
                            " route's partner (partner: NAME, from partners/NAME.yaml)")
        return route
    partner = partners.get(route.partner)
    if partner is None:
        problems.append(f"{label}: partner: {route.partner!r} is not a partner in"
                        f" partners/{did_you_mean(route.partner, sorted(partners))}")
        return route
    update: dict[str, Any] = {}
    if route.owner is None and partner.owner is not None:
        update["owner"] = partner.owner
    # the partner's files are expected on the routes reading them, not on those writing to it
    if route.expect is None and partner.expect is not None and edifact is None \
            and x12 is None:
        update["expect"] = partner.expect
    if edifact is not None:
        ids = partner.edifact
        if ids is None and not (edifact.sender and edifact.recipient):
            problems.append(f"{label}: target.edifact: partner {partner.name!r} has no"
                            " edifact identifiers: give sender and recipient here or"
                            f" edifact: {{id, our_id}} in {_rel(partner.spec_path, None)}")
            return route
        tpl = edifact.model_copy(update={
            "sender": edifact.sender or (ids.us if ids else None),
            "recipient": edifact.recipient or (ids.party if ids else None),
            "ack_within": edifact.ack_within or partner.ack_within})
        update["target"] = route.target.model_copy(update={"edifact": tpl})
    if x12 is not None and route.target.format == "x12":
        filled = _x12_template(route, partner, label, problems)
        if filled is None:
            return route
        target = update.get("target", route.target)
        update["target"] = target.model_copy(update={"x12": filled})
    return route.model_copy(update=update) if update else route


def _x12_template(route: RouteSpec, partner: PartnerSpec, label: str,
                  problems: list[str]) -> X12Template | None:
    """The route's X12 template with the partner's ISA/GS ids where it gives none. A partner
    without X12 ids is a problem: its control numbers could never be kept."""
    tpl, ids = route.target.x12, partner.x12
    assert tpl is not None
    where = _rel(partner.spec_path, None)
    if ids is None:
        problems.append(f"{label}: target.x12: partner {partner.name!r} has no x12"
                        f" identifiers: add x12: {{isa_qualifier, isa_id, our_isa_qualifier,"
                        f" our_isa_id}} to {where}")
        return None
    if ids.us is None and not tpl.sender:
        problems.append(f"{label}: target.x12: partner {partner.name!r} does not say our ISA"
                        f" id: add x12.our_isa_qualifier and x12.our_isa_id to {where}, or"
                        " give target.x12.sender")
        return None
    filled = {**tpl.model_dump(exclude_unset=True),
              "sender": tpl.sender or ids.us, "receiver": tpl.receiver or ids.party,
              "gs_sender": tpl.gs_sender or ids.our_gs_id,
              "gs_receiver": tpl.gs_receiver or ids.gs_id,
              "ack_within": tpl.ack_within or partner.ack_within}
    try:  # checked again with the partner's ids in it (a delimiter inside an id)
        return X12Template.model_validate(filled)
    except ValidationError as exc:
        for err in exc.errors():
            problems.append(f"{label}: target.x12: {err['msg'].removeprefix('Value error, ')}"
                            f" (with the ids of {where})")
        return None


def did_you_mean(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _rel(path: Path | None, root: Path | None) -> str:
    if path is None:
        return "?"
    if root is None:
        return f"partners/{path.name}"
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


# -- what the ledger knows of each partner (tradelane partners, the console) ---------------


def identifiers(partner: PartnerSpec) -> list[str]:
    """The partner's own ids in every standard (what its interchanges carry)."""
    return [i for _standard, ids in number_series(partner) for i in ids]


def number_series(partner: PartnerSpec) -> list[tuple[str, list[str]]]:
    """(standard, the partner's ids in it): UNB 0020 and ISA13 are counted apart, so gaps
    are looked for in each series on its own."""
    series = [("edifact", [partner.edifact.id])] if partner.edifact else []
    return series + ([("x12", [partner.x12.isa_id])] if partner.x12 else [])


def overview(partners: dict[str, PartnerSpec], ledger: Ledger,
             now: datetime | None = None) -> list[dict[str, Any]]:
    """Per partner: ids, owner, last interchange in and out, acknowledgements outstanding,
    the next control numbers, and the gaps in the numbers received."""
    from tradelane.ledger.partner_activity import PartnerActivity, gaps
    from tradelane.sequences import Sequences

    activity = PartnerActivity(ledger)
    taken = {(s["partner"], s["standard"], s["kind"]): s
             for s in Sequences(ledger).next_values()}
    out = []
    for name, partner in sorted(partners.items()):
        ids = identifiers(partner)
        act = activity.activity(ids, now)
        sequences = []
        for standard, kind, spec in _sequences(partner):
            row = taken.get((name, standard, kind))
            value = row["next"] if row else spec.start
            sequences.append({"standard": standard, "kind": kind,
                              "next": spec.text(value if value <= spec.max else spec.start),
                              "max": spec.max, "rollovers": row["cycle"] if row else 0})
        out.append({
            "name": name, "description": partner.description,
            "owner": str(partner.owner) if partner.owner else None,
            "edifact": partner.edifact.party if partner.edifact else None,
            "x12": f"{partner.x12.isa_qualifier}:{partner.x12.isa_id}" if partner.x12 else None,
            "transports": partner.transports,
            "last_inbound": act.last_inbound.as_dict() if act.last_inbound else None,
            "last_outbound": act.last_outbound.as_dict() if act.last_outbound else None,
            "acks_waiting": act.acks_waiting, "acks_late": act.acks_late,
            "sequences": sequences,
            "gaps": [list(g) for _standard, own in number_series(partner)
                     for g in gaps(activity.received_numbers(own))]})
    return out


def _sequences(partner: PartnerSpec) -> list[tuple[str, str, SequenceSpec]]:
    out = []
    if partner.edifact is not None:
        control = partner.edifact.control_numbers
        for kind in ("interchange", "message"):
            spec = getattr(control, kind)
            if spec is not None:
                out.append(("edifact", kind, spec))
    if partner.x12 is not None:
        x12 = partner.x12.control_numbers
        for kind in ("interchange", "group", "transaction"):
            spec = getattr(x12, kind)
            if spec is not None:
                out.append(("x12", kind, spec))
    return out
