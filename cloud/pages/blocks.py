"""The e-receipt template as data: a list of blocks from a fixed set of types, each with its settings, its
ordered segment rules and its holdout share. Plain pydantic models, no I/O.

A template is stored as JSON (`Template.model_dump(mode="json")`) in an immutable version row; every
change is a new version. Every block's settings are validated by the model of its type, and so is every
rule's override (merged over the defaults), so a template that validates renders.

Tenant-editable text (headlines, texts, button labels, the footer) is a Jinja2 template run in the sandbox
(`cloud.pages.blocks_render`): `{{ seller }}`, `{{ store }}`, `{{ total | rubles }}` work; markup is
escaped, so `<script>` typed by a marketer shows as text.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cloud.pages.segments import Audience, Condition, first_match, held_out


class BlockType(StrEnum):
    STYLES = "styles"
    LOGO = "logo"
    BANNER = "banner"  # the main banner
    RECEIPT = "receipt"  # the legal receipt body (items, VAT, fiscal data)
    TOTALS = "totals"
    SOCIAL = "social"
    QR = "qr"
    FOOTER = "footer"
    LOYALTY = "loyalty"
    ENRICHMENT = "enrichment"
    PROMO = "promo"
    RECOMMENDATIONS = "recommendations"
    SURVEY = "survey"
    LINK_BANNER = "link_banner"


LABELS: dict[BlockType, str] = {
    BlockType.STYLES: "Оформление",
    BlockType.LOGO: "Логотип",
    BlockType.BANNER: "Главный баннер",
    BlockType.RECEIPT: "Чек (товары и фискальные данные)",
    BlockType.TOTALS: "Итоги",
    BlockType.SOCIAL: "Соцсети",
    BlockType.QR: "QR-код ФНС",
    BlockType.FOOTER: "Подвал",
    BlockType.LOYALTY: "Программа лояльности",
    BlockType.ENRICHMENT: "Анкета (дополнение профиля)",
    BlockType.PROMO: "Промокод",
    BlockType.RECOMMENDATIONS: "Рекомендации",
    BlockType.SURVEY: "Опрос",
    BlockType.LINK_BANNER: "Баннер со ссылкой",
}
# The law's part of the page: always present once, never hidden by a rule or held out.
LEGAL = frozenset({BlockType.RECEIPT, BlockType.TOTALS, BlockType.QR})
MARKETING = frozenset(
    {
        BlockType.LOYALTY,
        BlockType.ENRICHMENT,
        BlockType.PROMO,
        BlockType.RECOMMENDATIONS,
        BlockType.SURVEY,
        BlockType.LINK_BANNER,
        BlockType.BANNER,
    }
)

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_BLOCK_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
Text = Annotated[str, Field(max_length=2000)]
Short = Annotated[str, Field(max_length=200)]


def _url(value: str) -> str:
    """An outbound or image URL: https (or http), or a path on the cloud; never javascript: or data:."""
    value = value.strip()
    local = value.startswith("/") and not value.startswith("//")
    if value and not (value.startswith(("https://", "http://")) or local):
        raise ValueError("ссылка должна начинаться с https:// (или быть путём на этом сайте, /...)")
    if any(c in value for c in " \"'<>\n\r\t"):
        raise ValueError("в ссылке не должно быть пробелов, кавычек и угловых скобок")
    return value


Url = Annotated[str, Field(max_length=500), AfterValidator(_url)]


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StylesSettings(Settings):
    accent: str = "#1f3b57"
    background: str = "#f3f3f3"
    text: str = "#111111"
    font: Literal["system", "serif", "mono"] = "system"

    @field_validator("accent", "background", "text")
    @classmethod
    def _color(cls, value: str) -> str:
        if not _COLOR.match(value):
            raise ValueError("цвет в виде #RRGGBB")
        return value.lower()


class LogoSettings(Settings):
    image_url: Url = ""
    alt: Short = ""
    link: Url = ""


class BannerSettings(Settings):
    headline: Short = ""
    text: Text = ""
    image_url: Url = ""
    link: Url = ""
    button: Short = "Подробнее"


class ReceiptSettings(Settings):
    note: Short = ""  # a line under the heading, e.g. "Спасибо за покупку!"


class EmptySettings(Settings):
    pass


class SocialSettings(Settings):
    heading: Short = "Мы в соцсетях"
    vk: Url = ""
    ok: Url = ""
    telegram: Url = ""


class FooterSettings(Settings):
    text: Text = "Спасибо за покупку в {{ seller }}!"


class LoyaltySettings(Settings):
    headline: Short = "Вступите в программу лояльности"
    text: Text = "Баллы за каждую покупку и скидки для участников."
    button: Short = "Вступить в один клик"
    consent_text: Text = (
        "Нажимая кнопку, я соглашаюсь на обработку моего номера телефона для участия в программе лояльности "
        "{{ seller }} и получения информации о ней."
    )
    consent_version: Annotated[str, Field(min_length=1, max_length=20)] = "1"
    done: Short = "Вы участник программы лояльности."


class Question(StrEnum):
    EMAIL = "email"
    BIRTHDAY = "birthday"
    PET = "pet"


QUESTION_LABELS = {
    Question.EMAIL: "E-mail",
    Question.BIRTHDAY: "День рождения",
    Question.PET: "Домашний питомец",
}


class EnrichmentSettings(Settings):
    headline: Short = "Расскажите о себе"
    # The n-th receipt of a contact asks the first unanswered question among the first n of this order.
    order: list[Question] = Field(default_factory=lambda: [Question.EMAIL, Question.BIRTHDAY, Question.PET])
    consent_text: Text = (
        "Я соглашаюсь на обработку указанных данных {{ seller }} для персональных предложений."
    )
    consent_version: Annotated[str, Field(min_length=1, max_length=20)] = "1"
    done: Short = "Спасибо! Мы учтём это в предложениях."

    @field_validator("order")
    @classmethod
    def _distinct(cls, value: list[Question]) -> list[Question]:
        if not value or len(set(value)) != len(value):
            raise ValueError("вопросы без повторов, хотя бы один")
        return value


class PromoSettings(Settings):
    rule_name: Annotated[str, Field(min_length=1, max_length=64)] = "default"
    headline: Short = ""  # shown when set; else the promo rule's own headline
    text: Text = "Покажите код на кассе или введите на сайте."


class Recommendation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    category: Annotated[str, Field(min_length=1, max_length=64)]
    title: Short
    text: Text = ""
    link: Url = ""


class RecommendationsSettings(Settings):
    heading: Short = "Вам может понравиться"
    rules: list[Recommendation] = Field(default_factory=list, max_length=20)
    limit: Annotated[int, Field(ge=1, le=6)] = 3


class SurveySettings(Settings):
    question: Short = "Как вам покупка?"
    comment_label: Short = "Комментарий (необязательно)"
    button: Short = "Отправить"
    done: Short = "Спасибо за оценку!"


class LinkBannerSettings(Settings):
    text: Text = ""
    image_url: Url = ""
    link: Url = ""
    button: Short = "Перейти"


SETTINGS: dict[BlockType, type[Settings]] = {
    BlockType.STYLES: StylesSettings,
    BlockType.LOGO: LogoSettings,
    BlockType.BANNER: BannerSettings,
    BlockType.RECEIPT: ReceiptSettings,
    BlockType.TOTALS: EmptySettings,
    BlockType.SOCIAL: SocialSettings,
    BlockType.QR: EmptySettings,
    BlockType.FOOTER: FooterSettings,
    BlockType.LOYALTY: LoyaltySettings,
    BlockType.ENRICHMENT: EnrichmentSettings,
    BlockType.PROMO: PromoSettings,
    BlockType.RECOMMENDATIONS: RecommendationsSettings,
    BlockType.SURVEY: SurveySettings,
    BlockType.LINK_BANNER: LinkBannerSettings,
}


class Rule(BaseModel):
    """One segment rule of a block: when `when` matches, the block is hidden or shown with `settings`
    (the fields given override the block's defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    when: Condition
    hidden: bool = False
    settings: dict[str, Any] = Field(default_factory=dict)


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    type: BlockType
    settings: dict[str, Any] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list, max_length=20)
    holdout: Annotated[float, Field(ge=0, le=0.9)] = 0.0  # share of receipts that get the page without it

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _BLOCK_ID.match(value):
            raise ValueError("id блока: латинские буквы, цифры, '-' и '_', до 32 знаков")
        return value

    @model_validator(mode="after")
    def _settings_valid(self) -> "Block":
        model = SETTINGS[self.type]
        model.model_validate(self.settings)
        for rule in self.rules:
            model.model_validate({**self.settings, **rule.settings})
        if self.type in LEGAL and (self.holdout or any(r.hidden for r in self.rules)):
            raise ValueError(f"блок «{LABELS[self.type]}» обязателен по закону: его нельзя скрыть")
        return self

    def parsed(self, overrides: dict[str, Any] | None = None) -> Settings:
        return SETTINGS[self.type].model_validate({**self.settings, **(overrides or {})})


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    blocks: list[Block] = Field(max_length=40)
    # Purchased category → keywords of item names (the receipt carries names, not categories).
    categories: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _whole(self) -> "Template":
        ids = [b.id for b in self.blocks]
        if len(set(ids)) != len(ids):
            raise ValueError("у блоков должны быть разные id")
        for kind in LEGAL:
            count = sum(1 for b in self.blocks if b.type is kind)
            if count != 1:
                raise ValueError(f"блок «{LABELS[kind]}» должен быть в шаблоне ровно один раз")
        if sum(1 for b in self.blocks if b.type is BlockType.STYLES) > 1:
            raise ValueError("блок «Оформление» может быть только один")
        return self

    def block(self, block_id: str) -> Block | None:
        return next((b for b in self.blocks if b.id == block_id), None)


def errors_of(exc: ValidationError) -> str:
    """A pydantic error as one Russian sentence for the editor."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def default_template() -> Template:
    """What a tenant without a template gets: today's legal page plus the marketing blocks that need no
    setup (loyalty, profile questions, a survey), each with sensible Russian wording."""
    return Template(
        blocks=[
            Block(id="styles", type=BlockType.STYLES),
            Block(id="receipt", type=BlockType.RECEIPT),
            Block(id="totals", type=BlockType.TOTALS),
            Block(id="qr", type=BlockType.QR),
            Block(
                id="loyalty", type=BlockType.LOYALTY, rules=[Rule(when=Condition(loyalty=True), hidden=True)]
            ),
            Block(id="profile", type=BlockType.ENRICHMENT),
            Block(id="survey", type=BlockType.SURVEY),
            Block(id="footer", type=BlockType.FOOTER),
        ]
    )


def new_block_id(template: Template, kind: BlockType) -> str:
    taken = {b.id for b in template.blocks}
    base = kind.value.replace("_", "-")
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


# Settings fields that are tenant text, rendered through the sandbox (the rest are URLs, colours, codes).
TEXT_FIELDS = frozenset(
    {
        "headline",
        "text",
        "button",
        "consent_text",
        "done",
        "heading",
        "note",
        "question",
        "comment_label",
        "alt",
    }
)


@dataclass(frozen=True, slots=True)
class Shown:
    block: Block
    settings: Settings
    segment: str = "default"  # which rule gave the settings ('rule-2'), for the block's figures per segment


@dataclass(frozen=True, slots=True)
class Resolution:
    """The page for one audience: the blocks shown (in order, with the settings their segment gets), the
    blocks with a holdout this receipt was held out of, and those with a holdout it was shown."""

    shown: list[Shown]
    held_out: list[str]
    exposed: list[str]


def resolve(
    template: Template, audience: Audience, receipt_id: int | None, answered: frozenset[str] = frozenset()
) -> Resolution:
    """Segment rules first (a hidden block is not part of its holdout experiment for this receipt), then
    the holdout draw (`receipt_id` None, a preview: nothing is held out). A block the buyer answered on
    this receipt (`answered`) stays to say thank you, even if the answer moved them to a hiding segment."""
    shown: list[Shown] = []
    held: list[str] = []
    exposed: list[str] = []
    for block in template.blocks:
        rule = first_match(block.rules, audience)
        if rule is not None and rule.hidden:
            if block.id not in answered:
                continue
            rule = None
        if block.holdout and receipt_id is not None:
            if held_out(receipt_id, block.id, block.holdout):
                held.append(block.id)
                continue
            exposed.append(block.id)
        segment = f"rule-{block.rules.index(rule) + 1}" if rule else "default"
        shown.append(Shown(block, block.parsed(rule.settings if rule else None), segment))
    return Resolution(shown, held, exposed)
