"""The relay and its transports: moves bytes between wezterm-gui and the mux, never decodes."""
