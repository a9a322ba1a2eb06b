"""Plain HTML forms for the template editor, generated from each block type's settings model: a field per
setting (text, long text, choice, number, list), read back into the dict the model validates. A rule's
form has the segment's condition and the same fields, where an empty field means "as the default"."""

import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel

from cloud.pages.blocks import TEXT_FIELDS, Recommendation, Rule, Settings
from cloud.pages.segments import Condition

LONG = frozenset({"text", "consent_text"})
NAMES = {
    "accent": "Цвет акцента (#RRGGBB)",
    "background": "Цвет фона",
    "text": "Текст",
    "font": "Шрифт",
    "image_url": "Картинка (https://…)",
    "alt": "Подпись картинки",
    "link": "Ссылка (https://…)",
    "headline": "Заголовок",
    "button": "Надпись на кнопке",
    "note": "Строка под заголовком чека",
    "heading": "Заголовок",
    "vk": "ВКонтакте (ссылка)",
    "ok": "Одноклассники (ссылка)",
    "telegram": "Telegram (ссылка)",
    "consent_text": "Текст согласия (его увидит и подтвердит покупатель)",
    "consent_version": "Версия текста согласия",
    "done": "Текст после ответа",
    "order": "Порядок вопросов: email, birthday, pet (1-й чек — первый вопрос, 2-й — второй…)",
    "rule_name": "Правило промокодов (имя)",
    "rules": "Рекомендации: строка «категория | заголовок | текст | ссылка»",
    "limit": "Сколько рекомендаций показывать",
    "question": "Вопрос",
    "comment_label": "Подпись к комментарию",
}
CHOICES = {"font": [("system", "Системный"), ("serif", "С засечками"), ("mono", "Моноширинный")]}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    label: str
    widget: str  # text | textarea | select | number | list | recs
    choices: tuple[tuple[str, str], ...] = ()
    tenant_text: bool = False


def _widget(name: str, annotation: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    if name in CHOICES:
        return "select", tuple(CHOICES[name])
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return "select", tuple((str(a), str(a)) for a in args)
    if origin is list and args and args[0] is Recommendation:
        return "recs", ()
    if origin is list:
        return "list", ()
    if annotation is int or (origin is typing.Annotated and args and args[0] is int):
        return "number", ()
    return ("textarea" if name in LONG else "text"), ()


def fields_of(model: type[Settings]) -> list[FieldSpec]:
    return [
        FieldSpec(
            name, NAMES.get(name, name), *_widget(name, info.annotation), tenant_text=name in TEXT_FIELDS
        )
        for name, info in model.model_fields.items()
    ]


def _shown(value: Any) -> str:
    if isinstance(value, list):
        if value and isinstance(value[0], dict | BaseModel):
            lines = []
            for rec in value:
                r = rec if isinstance(rec, dict) else rec.model_dump()
                lines.append(
                    " | ".join(
                        [r.get("category", ""), r.get("title", ""), r.get("text", ""), r.get("link", "")]
                    )
                )
            return "\n".join(lines)
        return ", ".join(v.value if isinstance(v, Enum) else str(v) for v in value)
    if isinstance(value, Enum):
        return str(value.value)
    return "" if value is None else str(value)


def form_values(settings: dict[str, Any]) -> dict[str, str]:
    return {name: _shown(value) for name, value in settings.items()}


def _parsed(spec: FieldSpec, raw: str) -> Any:
    raw = raw.replace("\r\n", "\n")
    if spec.widget == "list":
        return [p.strip() for p in raw.replace(";", ",").split(",") if p.strip()]
    if spec.widget == "recs":
        recs = []
        for line in raw.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if not any(parts):
                continue
            parts += [""] * (4 - len(parts))
            recs.append({"category": parts[0], "title": parts[1], "text": parts[2], "link": parts[3]})
        return recs
    if spec.widget == "number":
        return int(raw) if raw.strip().lstrip("-").isdigit() else raw
    return raw if spec.widget == "textarea" else raw.strip()


def settings_from_form(
    model: type[Settings], form: dict[str, str], prefix: str = "s.", inherit: bool = False
) -> dict[str, Any]:
    """The settings the form says; with `inherit` (a rule's overrides) only the fields filled in."""
    out: dict[str, Any] = {}
    for spec in fields_of(model):
        key = prefix + spec.name
        if key not in form:
            continue
        if inherit and not form[key].strip():
            continue
        out[spec.name] = _parsed(spec, form[key])
    return out


def _tri(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def condition_from_form(form: dict[str, str], prefix: str) -> dict[str, Any]:
    def items(name: str) -> list[str]:
        return [p.strip() for p in form.get(prefix + name, "").replace(";", ",").split(",") if p.strip()]

    total = form.get(prefix + "total_over", "").strip().replace(" ", "")
    return {
        "regions": items("regions"),
        "loyalty": _tri(form.get(prefix + "loyalty", "")),
        "app": _tri(form.get(prefix + "app", "")),
        "total_over": int(float(total.replace(",", ".")) * 100)
        if total.replace(",", "").replace(".", "").isdigit()
        else None,
        "categories": items("categories"),
        "stores": [int(s) for s in items("stores") if s.isdigit()],
    }


def condition_values(c: Condition) -> dict[str, str]:
    def tri(v: bool | None) -> str:
        return "" if v is None else ("yes" if v else "no")

    return {
        "regions": ", ".join(c.regions),
        "loyalty": tri(c.loyalty),
        "app": tri(c.app),
        "total_over": "" if c.total_over is None else str(c.total_over // 100),
        "categories": ", ".join(c.categories),
        "stores": ", ".join(str(s) for s in c.stores),
    }


def rules_from_form(model: type[Settings], form: dict[str, str], count: int) -> list[dict[str, Any]]:
    rules = []
    for n in range(count):
        prefix = f"r{n}."
        if form.get(prefix + "delete") == "on":
            continue
        rules.append(
            {
                "when": condition_from_form(form, prefix),
                "hidden": form.get(prefix + "hidden") == "on",
                "settings": settings_from_form(model, form, prefix + "s.", inherit=True),
            }
        )
    return rules


def rule_values(rule: Rule) -> dict[str, Any]:
    return {
        "when": condition_values(rule.when),
        "hidden": rule.hidden,
        "settings": form_values(rule.settings),
    }


def categories_from_form(raw: str) -> dict[str, list[str]]:
    """'кофе: кофе, эспрессо' lines → {"кофе": ["кофе", "эспрессо"]}."""
    out: dict[str, list[str]] = {}
    for line in raw.replace("\r\n", "\n").splitlines():
        name, _, words = line.partition(":")
        if name.strip():
            out[name.strip()] = [w.strip() for w in (words or name).split(",") if w.strip()]
    return out


def categories_text(categories: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}: {', '.join(words)}" for name, words in categories.items())
