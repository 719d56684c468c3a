"""What other plugins tell us, where our own observation cannot see: each module here speaks to
one plugin, through what it exposes, and is inert when that plugin is not active."""
