int jc_support_placeholder_(void); int jc_support_placeholder_(void){return 0;}
