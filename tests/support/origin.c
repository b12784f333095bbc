int jc_origin_placeholder_(void); int main(void){return 0;}
