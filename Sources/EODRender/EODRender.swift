// EODRender
