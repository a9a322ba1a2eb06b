"""The cloud's HTML: one Jinja2 environment (autoescaped), the base layout, static assets served by the
cloud itself (no CDN), security headers, and form handling for head office's pages."""
