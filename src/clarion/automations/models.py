"""Journey definitions: the YAML/JSON document a marketer writes, validated by pydantic.

A definition names one trigger (an event, a date attribute, or entering a segment), a list of
steps (each with an ``id`` and exactly one of ``wait``, ``branch``, ``send``, ``exit``), an
optional ``goal`` event that ends a run wherever it is, entry rules and a frequency rule.
Errors are reported as :class:`~clarion.errors.ValidationFailed` naming the step and the field
(``steps[2] (id 'remind').wait.duration``), because a person fixes a file by its path, not by a
pydantic traceback.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from clarion.errors import ValidationFailed

_DURATION = re.compile(
    r"^\s*(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*"
    r"(?:(\d+)\s*s)?\s*$"
)
_UNITS = ("weeks", "days", "hours", "minutes", "seconds")


def parse_duration(value: Any) -> timedelta:
    """Return ``value`` ("90s", "15m", "1h30m", "2d", "1w", or seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is like '30m', '1h', '2d' or a number of seconds")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return timedelta(seconds=float(value))
    m = _DURATION.match(str(value)) if isinstance(value, str) else None
    if m is None or not any(m.groups()):
        raise ValueError(f"{value!r} is not a duration like '30m', '1h', '2d' or '1w'")
    delta = timedelta(**{u: int(g) for u, g in zip(_UNITS, m.groups(), strict=True) if g})
    if delta <= timedelta(0):
        raise ValueError("a duration must be positive")
    return delta


def format_duration(delta: timedelta) -> str:
    """Return ``delta`` in the short form :func:`parse_duration` reads back."""
    secs = int(delta.total_seconds())
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size:
            out.append(f"{secs // size}{unit}")
            secs %= size
    return "".join(out) or "0s"


def _parse_local_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
    if m is None:
        raise ValueError(f"{value!r} is not a local time like '10:00'")
    return time(int(m.group(1)), int(m.group(2)))


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]
LocalTime = Annotated[
    time,
    BeforeValidator(_parse_local_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]
StepId = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")]

#: Comparison operators for property filters and attribute conditions.
Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "contains"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compare(_Strict):
    """A value test: ``{op: gte, value: 20}``."""

    op: Op = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _value_fits(self) -> Compare:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"'{self.op}' needs a list value")
        if self.op == "exists" and not isinstance(self.value, bool | None):
            raise ValueError("'exists' takes true or false")
        return self


def _compare(value: Any) -> Any:
    """Accept ``20`` as ``{op: eq, value: 20}`` and ``{gte: 20}`` as ``{op: gte, value: 20}``."""
    if isinstance(value, dict) and "op" not in value and len(value) == 1:
        ((op, v),) = value.items()
        return {"op": op, "value": v}
    if isinstance(value, dict) and "op" in value:
        return value
    return {"op": "eq", "value": value}


Filter = dict[str, Annotated[Compare, BeforeValidator(_compare)]]


# -- triggers ---------------------------------------------------------------------------------
class DateTrigger(_Strict):
    """Enter on a date attribute once a year (a birthday): ``days_before`` it, at ``at`` local."""

    attribute: Name
    days_before: int = Field(0, ge=0, le=60)
    at: LocalTime = time(10, 0)


class Trigger(_Strict):
    """Exactly one of ``event``, ``date`` or ``segment``."""

    event: Name | None = None
    where: Filter = Field(default_factory=dict)
    #: Events older than this when seen are not enrolled (imports of last year's orders).
    max_age: Duration = timedelta(days=1)
    date: DateTrigger | None = None
    segment: int | Name | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        kinds = [k for k in ("event", "date", "segment") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a trigger has exactly one of 'event', 'date' or 'segment'")
        if self.where and self.event is None:
            raise ValueError("'where' filters an event trigger's properties")
        return self

    @property
    def kind(self) -> str:
        """Return ``event``, ``date`` or ``segment``."""
        return "event" if self.event else "date" if self.date else "segment"


# -- conditions -------------------------------------------------------------------------------
class EventCondition(_Strict):
    """Whether the contact did ``name`` since entering the run (or within ``within``)."""

    name: Name
    since: Literal["entry"] = "entry"
    within: Duration | None = None
    where: Filter = Field(default_factory=dict)


class Condition(_Strict):
    """One of: ``event``, ``field`` (with ``op``/``value``), ``all``, ``any``, ``not``.

    ``field`` is a profile field (``country``), ``attributes.<name>``, ``traits.<name>``,
    ``tags`` (with ``contains``) or ``event.<property>`` of the triggering event.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    event: EventCondition | None = None
    field: str | None = Field(None, min_length=1, max_length=200)
    op: Op = "eq"
    value: Any = None
    all_: list[Condition] | None = Field(None, alias="all")
    any_: list[Condition] | None = Field(None, alias="any")
    not_: Condition | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        kinds = [
            k
            for k, v in (
                ("event", self.event),
                ("field", self.field),
                ("all", self.all_),
                ("any", self.any_),
                ("not", self.not_),
            )
            if v is not None
        ]
        if len(kinds) != 1:
            raise ValueError("a condition has exactly one of 'event', 'field', 'all', 'any', 'not'")
        if self.field is not None:
            Compare(op=self.op, value=self.value)
        return self


# -- steps ------------------------------------------------------------------------------------
class Wait(_Strict):
    """Wait ``duration``, then (or instead) until the next ``until`` on the recipient's clock."""

    duration: Duration | None = None
    until: LocalTime | None = None

    @model_validator(mode="after")
    def _something(self) -> Wait:
        if self.duration is None and self.until is None:
            raise ValueError("a wait needs 'duration', 'until' or both")
        return self


class Branch(_Strict):
    """Go to ``then`` when ``if`` holds, else to ``else`` (either defaults to the next step)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    if_: Condition = Field(alias="if")
    then: StepId | None = None
    else_: StepId | None = Field(None, alias="else")


class Send(_Strict):
    """Send a saved template (or literal text) on a channel, as transactional or marketing."""

    channel: Literal["sms", "email"] = "sms"
    template: Name | None = None
    text: str | None = Field(None, min_length=1, max_length=5000)
    kind: Literal["transactional", "marketing"] = "transactional"
    purpose: str | None = Field(None, max_length=30)
    sender: str | None = Field(None, max_length=30)
    validity: Duration | None = None

    @model_validator(mode="after")
    def _body(self) -> Send:
        if (self.template is None) == (self.text is None):
            raise ValueError("a send has exactly one of 'template' or 'text'")
        return self


class Exit(_Strict):
    """End the run here (``reason`` is shown in its path)."""

    reason: str = Field("exit step", max_length=100)


def _exit(value: Any) -> Any:
    return {} if value is True or value is None else value


class Step(_Strict):
    """One step: an ``id`` and exactly one of ``wait``, ``branch``, ``send``, ``exit``."""

    id: StepId
    wait: Wait | None = None
    branch: Branch | None = None
    send: Send | None = None
    exit: Annotated[Exit | None, BeforeValidator(_exit)] = None

    @model_validator(mode="before")
    @classmethod
    def _exit_marker(cls, data: Any) -> Any:
        # ``exit:`` with no value in YAML is None; mean "an exit step", not "no exit".
        if isinstance(data, dict) and "exit" in data and data["exit"] is None:
            data = {**data, "exit": {}}
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        if len([k for k in ("wait", "branch", "send", "exit") if getattr(self, k)]) != 1:
            raise ValueError("a step has exactly one of 'wait', 'branch', 'send' or 'exit'")
        return self

    @property
    def kind(self) -> str:
        """Return the step's type: ``wait``, ``branch``, ``send`` or ``exit``."""
        return next(k for k in ("wait", "branch", "send", "exit") if getattr(self, k))


# -- rules ------------------------------------------------------------------------------------
class Goal(_Strict):
    """An event that ends the run wherever it is (a purchase ends the cart reminder)."""

    event: Name
    where: Filter = Field(default_factory=dict)


class Entry(_Strict):
    """Who may enter again: ``once`` ever, ``once_per`` a ``period``, or ``every_time``.

    ``concurrent`` lets a contact be in several runs at once (an order confirmation for each
    order); otherwise a trigger while a run is active is skipped.
    """

    reentry: Literal["once", "once_per", "every_time"] = "every_time"
    period: Duration | None = None
    concurrent: bool = False

    @model_validator(mode="after")
    def _period(self) -> Entry:
        if (self.reentry == "once_per") != (self.period is not None):
            raise ValueError("'period' goes with (and only with) reentry 'once_per'")
        return self


class Frequency(_Strict):
    """At most ``max`` messages from this journey to a contact ``per`` period."""

    max: int = Field(ge=1, le=1000)
    per: Duration


class JourneyDefinition(_Strict):
    """A whole journey as written in a file or sent to the API."""

    name: Name
    description: str | None = Field(None, max_length=2000)
    trigger: Trigger
    steps: list[Step] = Field(min_length=1, max_length=200)
    goal: Goal | None = None
    entry: Entry = Field(default_factory=Entry)
    frequency: Frequency | None = None

    @model_validator(mode="after")
    def _graph(self) -> JourneyDefinition:
        position: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.id in position:
                raise _StepError(i, step.id, "id", f"step id {step.id!r} is used twice")
            position[step.id] = i
        for i, step in enumerate(self.steps):
            if step.branch is None:
                continue
            for key, target in (("then", step.branch.then), ("else", step.branch.else_)):
                if target is None:
                    continue
                if target not in position:
                    raise _StepError(i, step.id, f"branch.{key}", f"no step {target!r}")
                if position[target] <= i:
                    # Forward only: a run visits each step at most once, so a step's
                    # idempotency key (run, step) names exactly one send.
                    raise _StepError(
                        i, step.id, f"branch.{key}", f"{target!r} is not after this step"
                    )
        return self

    def step_index(self) -> dict[str, int]:
        """Return each step id's position."""
        return {s.id: i for i, s in enumerate(self.steps)}

    def event_names(self) -> set[str]:
        """Return the event names the journey reads after entry (goal, branch conditions)."""
        names = {self.goal.event} if self.goal else set()
        stack = [s.branch.if_ for s in self.steps if s.branch]
        while stack:
            c = stack.pop()
            if c.event:
                names.add(c.event.name)
            stack.extend(c.all_ or [])
            stack.extend(c.any_ or [])
            if c.not_:
                stack.append(c.not_)
        return names


class _StepError(ValueError):
    def __init__(self, index: int, step_id: str, field: str, reason: str) -> None:
        super().__init__(reason)
        self.index, self.step_id, self.field, self.reason = index, step_id, field, reason


def _loc_path(loc: tuple[int | str, ...], doc: Any) -> tuple[str, str | None]:
    """Return ``steps[2] (id 'x').wait.duration`` for a pydantic location, and the step id."""
    out, step_id = "", None
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            if i == 1 and loc[0] == "steps":
                steps = doc.get("steps") if isinstance(doc, dict) else None
                if isinstance(steps, list) and part < len(steps) and isinstance(steps[part], dict):
                    sid = steps[part].get("id")
                    if isinstance(sid, str):
                        step_id = sid
                        out += f" (id {sid!r})"
        elif part.startswith("function-") or part in ("Compare", "dict[str,Compare]"):
            continue
        else:
            out += f".{part.rstrip('_')}" if out else part.rstrip("_")
    return out or "(journey)", step_id


def parse_definition(doc: Any) -> JourneyDefinition:
    """Return ``doc`` as a JourneyDefinition or raise ValidationFailed naming step and field."""
    if not isinstance(doc, dict):
        raise ValidationFailed("a journey definition is an object", field="(journey)", value=doc)
    try:
        return JourneyDefinition.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems: list[dict[str, str | None]] = []
        for e in errors:
            ctx_err = (e.get("ctx") or {}).get("error")
            if isinstance(ctx_err, _StepError):
                path = f"steps[{ctx_err.index}] (id {ctx_err.step_id!r}).{ctx_err.field}"
                problems.append({"field": path, "step": ctx_err.step_id, "reason": ctx_err.reason})
                continue
            path, step_id = _loc_path(tuple(e["loc"]), doc)
            reason = str(e["msg"]).removeprefix("Value error, ")
            problems.append({"field": path, "step": step_id, "reason": reason})
        first = problems[0]
        raise ValidationFailed(
            f"journey definition: {first['field']}: {first['reason']}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            field=first["field"],
            step=first["step"],
            problems=problems,
        ) from None


def definition_doc(definition: JourneyDefinition) -> dict[str, Any]:
    """Return the definition as a JSON-able document (durations as '1h', times as '10:00')."""
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True)
