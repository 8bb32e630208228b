"""The template's benchmark: a generated service against a bare reference service."""
