// EODPipeline
