"""The cloud's Jinja2 environments: its own templates autoescape, and a tenant's template runs sandboxed."""

import pytest
from jinja2.exceptions import SecurityError, TemplateNotFound, UndefinedError

from cloud.web.templating import environment, sandboxed_environment


def test_the_cloud_templates_escape_everything() -> None:
    html = environment().from_string("<p>{{ name }}</p>").render(name="<script>alert(1)</script>")
    assert html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"


def test_a_misspelt_variable_fails_instead_of_rendering_empty() -> None:
    with pytest.raises(UndefinedError):
        environment().get_template("office/forbidden.html").render()


def test_a_tenants_template_cannot_reach_python_internals() -> None:
    env = sandboxed_environment()
    html = env.from_string("{{ shop }}: {{ total | rubles }} ₽").render(shop="<b>Хозтовары</b>", total=520050)
    assert html == "&lt;b&gt;Хозтовары&lt;/b&gt;: 5200.50 ₽"
    for attack in (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ items.append(1) }}",  # the data passed in is immutable
        "{{ cycler.__init__.__globals__.os }}",
    ):
        with pytest.raises((SecurityError, UndefinedError)):
            env.from_string(attack).render(items=[1, 2])
    with pytest.raises(TemplateNotFound):  # no loader: the cloud's own files are out of reach
        env.from_string("{% include 'office/base.html' %}").render()
