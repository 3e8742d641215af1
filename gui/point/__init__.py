"""The point: the simplex picker, the attribute sliders, strength and presets."""
