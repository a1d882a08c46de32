"""Runtime backends: one interface (`base.Runtime`), one module per way of running a replica."""
