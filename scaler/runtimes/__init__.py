"""Runtime backends: one interface (`base.Runtime`), one module (or package) per way of running a replica."""
