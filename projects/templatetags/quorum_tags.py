from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from projects.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """``{{ text|markdown }}``: sanitised markdown (see ``projects.rendering``)."""
    return render_markdown(text)
