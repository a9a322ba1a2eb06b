"""Attribution of offline sales to online touches, incrementality by holdout, ROPO figures, ad exports."""
