"""Attribution: resolve an event to the customer account and resource behind it."""
