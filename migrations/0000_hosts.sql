CREATE TABLE `host_names` (
	`inventory_name` text PRIMARY KEY NOT NULL,
	`host_id` integer NOT NULL,
	`address` text NOT NULL,
	`last_seen_at` integer NOT NULL,
	FOREIGN KEY (`host_id`) REFERENCES `hosts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `host_names_host_id` ON `host_names` (`host_id`);--> statement-breakpoint
CREATE TABLE `hosts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`machine_id` text NOT NULL,
	`hostname` text,
	`facts` text NOT NULL,
	`facts_at` integer NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `hosts_machine_id_unique` ON `hosts` (`machine_id`);