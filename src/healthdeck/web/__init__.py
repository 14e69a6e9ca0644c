"""The web console of `healthdeck serve`: server-rendered pages, their static files and inline SVG."""
