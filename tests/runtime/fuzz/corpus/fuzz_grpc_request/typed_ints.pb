
m"
binary_data_output*
i8INT8*€ÿÿÿÿÿÿÿÿ*
u32UINT32*"ÿÿÿÿ*
i64INT64*
€€€€€€€€€*
byBYTES*Blabel