"""Contract requests: reqContractDetails (9) -> contractDetails (10) + 52 end, reqMatchingSymbols (81) ->
symbolSamples (79); unknown contracts answer error 200 with TWS's wording (the model is sim/contracts.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sim.contracts import NO_SECDEF, contract_details_fields, matching, resolve_all
from ..sim.universe import CONTFUT
from .protocol import Fields

if TYPE_CHECKING:
    from .session import Session


def req_contract_details(session: Session, f: Fields) -> None:
    """reqContractDetails(version 8, reqId, contract, includeExpired, secIdType, secId[, issuerId])."""
    f.int()  # version
    req_id = f.int()
    spec = f.contract()
    today = session.gateway.clock.now().date()
    found = resolve_all(spec, today)
    if not found:
        session.error(req_id, 200, NO_SECDEF)
        return
    sec_type = CONTFUT if spec.secType.upper() == CONTFUT else ""
    for inst in found:
        exchange = spec.exchange or ("IDEALPRO" if inst.is_forex else "SMART")
        session.send(*contract_details_fields(req_id, inst, exchange, today, sec_type))
    session.send(52, 1, req_id)


def req_matching_symbols(session: Session, f: Fields) -> None:
    """reqMatchingSymbols(reqId, pattern) -> symbolSamples (79)."""
    req_id = f.int()
    pattern = f.str()
    found = matching(pattern)
    fields: list = [79, req_id, len(found)]
    for inst in found:
        fields += [inst.con_id, inst.symbol, inst.sec_type, inst.primary, inst.currency, 0]
    session.send(*fields)
