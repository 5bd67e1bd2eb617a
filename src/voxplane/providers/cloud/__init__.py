"""Cloud speech providers behind the STT / TTS interfaces, one module each, written against
each provider's documented wire protocol (httpx for REST, websockets for streams)."""
