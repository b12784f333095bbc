int jc_config_placeholder_(void); int jc_config_placeholder_(void) { return 0; }
