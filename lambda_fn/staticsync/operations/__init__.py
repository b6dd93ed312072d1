"""What runs besides deploys: one-time rollback requests, retention's prune, verify and repair."""
