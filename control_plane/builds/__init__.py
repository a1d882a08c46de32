"""How a version becomes servable: one backend per runtime behind `base.BuildBackend`."""
