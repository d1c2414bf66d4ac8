"""The Queue tab's Jobs view: every job across projects (controller + model + view)."""
