DROP TABLE IF EXISTS public.outbound_message_audit;
DROP TABLE IF EXISTS public.outbound_messages;
DROP TABLE IF EXISTS public.circuit_breakers;
