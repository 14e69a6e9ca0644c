"""The web console: server-rendered pages over the API's JSON, served by `healthdeck serve` under /ui/."""
