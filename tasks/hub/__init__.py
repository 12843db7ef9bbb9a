"""Names from outside, resolved once at the edge: Hugging Face Hub models by id and pinned revision (models), and the
data a user names by Hub dataset id or URL. Everything after resolution sees a local folder and a pinned revision."""
