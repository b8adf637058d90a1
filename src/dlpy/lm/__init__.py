"""dlpy.lm: a Korean masked language model pretrained with dlpy."""
