ALTER TABLE `host_results` ADD `wave` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `inventory_commit` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `inventory_dirty` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `cancel_requested_at` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `halt_reason` text;